"""bench/sass_loops.py: loops are found from backward branches, inner loops
are those holding no other, and only inner loops that do math are listed
unless every loop is asked for."""

from bench_module import load_bench

# An outer loop (0x0010-0x00a0) around an inner one with two HMMA
# (0x0030-0x0070), then a loop of integer work only (0x00b0-0x00d0), in
# the shape nvdisasm -c prints.
LISTING = """
        /*0000*/                   S2R R0, SR_TID.X ;
.L_x_1:
        /*0010*/                   IMAD R2, R0, 0x4, RZ ;
        /*0020*/                   LDG.E.128 R4, desc[UR4][R2.64] ;
.L_x_2:
        /*0030*/                   LDSM.16.M88.4 R8, [R3] ;
        /*0040*/                   HMMA.16816.F32 R12, R8, R4, R12 ;
        /*0050*/                   HMMA.16816.F32 R16, R8, R6, R16 ;
        /*0060*/                   ISETP.NE.AND P0, PT, R3, RZ, PT ;
        /*0070*/              @P0 BRA `(.L_x_2) ;
        /*0080*/                   STL [R1], R12 ;
        /*0090*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;
        /*00a0*/              @P1 BRA `(.L_x_1) ;
.L_x_3:
        /*00b0*/                   IADD3 R0, R0, 0x1, RZ ;
        /*00c0*/                   ISETP.GE.AND P0, PT, R0, 0x8, PT ;
        /*00d0*/             @!P0 BRA `(.L_x_3) ;
        /*00e0*/                   FFMA R1, R2, R3, R1 ;
        /*00f0*/                   EXIT ;
"""


def load():
    return load_bench("sass_loops")


def test_loops_nesting_and_counts():
    found = load().loops(LISTING)
    spans = [(l["start"], l["end"], l["inner"]) for l in found]
    assert spans == [(0x10, 0xa0, False), (0x30, 0x70, True), (0xb0, 0xd0, True)]
    inner = found[1]
    assert inner["instructions"] == 5
    assert inner["counts"]["HMMA"] == 2
    assert inner["counts"]["shared loads"] == 1
    assert inner["counts"]["global loads"] == 0
    outer = found[0]
    assert outer["instructions"] == 10
    assert outer["counts"]["global loads"] == 1
    assert outer["counts"]["local"] == 1
    assert outer["counts"]["barriers"] == 1
    # the FFMA after the last loop is in none
    assert all(l["counts"]["FMA"] == 0 for l in found)


def test_rows_list_inner_math_loops_unless_all():
    sl = load()
    rows = sl.rows(LISTING, "k")
    assert rows == ["| k | 0x30-0x70 | 5 | 2 | 0 | 1 | 0 | 0 | 0 | 0 | 40% |"]
    assert len(sl.rows(LISTING, "k", every=True)) == 3
    assert len(sl.header()[0].split("|")) == len(rows[0].split("|"))


def test_predicated_opcodes_are_counted_by_their_opcode():
    sl = load()
    assert sl.opcode("@!P0 LDSM.16.MT88.4 R80, [R6]") == "LDSM.16.MT88.4"
    assert sl.opcode("HMMA.16816.F32 R12, R8, R4, R12") == "HMMA.16816.F32"


def test_a_loop_with_a_few_fmas_is_not_a_math_loop():
    sl = load()
    few = LISTING.replace("IADD3 R0, R0, 0x1, RZ", "FFMA R0, R0, R5, R6")
    assert len(sl.rows(few, "k")) == 1  # still only the HMMA loop
    many = few.replace("        /*00c0*/", "".join(
        f"        /*00c{i}*/                   FFMA R{i}, R0, R5, R{i} ;\n" for i in range(8)) +
        "        /*00c0*/")
    assert len(sl.rows(many, "k")) == 2
