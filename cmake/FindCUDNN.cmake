# FindCUDNN
# ---------
# Finds NVIDIA cuDNN: the header cudnn.h and the library libcudnn.
#
# Hints: CUDNN_ROOT (variable or environment), the CUDA toolkit's folders.
# Results: CUDNN_FOUND, CUDNN_INCLUDE_DIR, CUDNN_LIBRARY, CUDNN_VERSION and the
# imported target CUDNN::cudnn.

set(_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT})
if(CUDAToolkit_INCLUDE_DIRS)
  list(APPEND _cudnn_hints ${CUDAToolkit_INCLUDE_DIRS}/..)
endif()
if(CUDAToolkit_LIBRARY_DIR)
  list(APPEND _cudnn_hints ${CUDAToolkit_LIBRARY_DIR}/..)
endif()

find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY cudnn HINTS ${_cudnn_hints} PATH_SUFFIXES lib64 lib lib/x64)

# cudnn_version.h (cuDNN 8 and later) holds the version macros.
set(CUDNN_VERSION "")
foreach(_header cudnn_version.h cudnn.h)
  if(CUDNN_INCLUDE_DIR AND EXISTS "${CUDNN_INCLUDE_DIR}/${_header}" AND NOT CUDNN_VERSION)
    file(READ "${CUDNN_INCLUDE_DIR}/${_header}" _cudnn_text)
    string(REGEX MATCH "define CUDNN_MAJOR ([0-9]+)" _m "${_cudnn_text}")
    set(_major "${CMAKE_MATCH_1}")
    string(REGEX MATCH "define CUDNN_MINOR ([0-9]+)" _m "${_cudnn_text}")
    set(_minor "${CMAKE_MATCH_1}")
    string(REGEX MATCH "define CUDNN_PATCHLEVEL ([0-9]+)" _m "${_cudnn_text}")
    set(_patch "${CMAKE_MATCH_1}")
    if(_major)
      set(CUDNN_VERSION "${_major}.${_minor}.${_patch}")
    endif()
  endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNN
  REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR
  VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
  add_library(CUDNN::cudnn UNKNOWN IMPORTED)
  set_target_properties(CUDNN::cudnn PROPERTIES
    IMPORTED_LOCATION "${CUDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
