#!/usr/bin/env bash
# The main job: builds sqz, converts the real pretrained SqueezeNet v1.0
# weights to .sqzw (once), classifies sample photographs on the best backend
# available, and evaluates top-1/top-5 over the 100 samples. Without the data
# folder it runs built-in v1.1 (synthetic weights) on a synthetic image.
#
# Environment: SQZ_DATA_DIR (default ../shared/data beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
sqz=build/apps/sqz
data=${SQZ_DATA_DIR:-../shared/data}

if [ -f "$data/squeezenet_v1.0_deep_compression.net" ]; then
  model=build/demo/squeezenet1_0.sqzw
  if [ ! -f "$model" ]; then
    mkdir -p build/demo
    echo "== converting the Deep Compression weights to $model"
    $sqz convert "$data/squeezenet_v1.0_deep_compression.net" "$model" \
      --labels "$data/synset_words.txt"
  fi
  echo
  echo "== $($sqz info "$model" | tail -n 1)"
  echo
  echo "== top-5 of sample photographs (resized to 256x256, centre crop 227)"
  photos=()
  for f in "$data"/imagenet_samples/jpeg/{0000,0150,0340,0500,0730,0980}_*.jpg; do
    [ -f "$f" ] && photos+=("$f")
  done
  $sqz classify -m "$model" "${photos[@]}"
  echo
  echo "== accuracy over the 100 sample crops (227x227 PPM)"
  $sqz eval -m "$model" "$data/imagenet_samples/ppm"
  echo
  echo "== accuracy over the 100 original photographs (JPEG, resized and cropped here)"
  $sqz eval -m "$model" "$data/imagenet_samples/jpeg"
else
  echo "No data folder at $data (set SQZ_DATA_DIR): running built-in squeezenet1_1"
  echo "with synthetic weights on a synthetic image, so the classes mean nothing."
  image=build/demo/synthetic.ppm
  mkdir -p build/demo
  python3 - "$image" <<'PY'
import sys
w = h = 224
pixels = bytearray()
for y in range(h):
    for x in range(w):
        pixels += bytes((x * 255 // w, y * 255 // h, 128))
open(sys.argv[1], "wb").write(b"P6\n%d %d\n255\n" % (w, h) + pixels)
PY
  $sqz info builtin:squeezenet1_1 | tail -n 1
  $sqz classify -m builtin:squeezenet1_1 "$image"
fi
