#!/usr/bin/env python3
"""fuzz_attack_seeds.py DIR — writes the hand-made seeds of fuzz/fuzz_attack.c
(corpus/fuzz_attack/), one per misuse kind, in the harness's encoding: an
operation is its code byte (code % 32, see LLVMFuzzerTestOneInput), a slot
byte, then the operation's own bytes. Each seed is named for the attack it
performs; against the previous core (b4f0cf2, FUZZ_ATTACK_ISOLATE=1) these
exploit it: double_free_after_write, never_handed_out, never_handed_out_usable,
overflow_past_large, overflow_past_table, read_forge_selfloop0, remote_forge_read,
waf_partial_byte. Against the current core every seed passes."""
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
MALLOC, CALLOC, REALLOC, MEMALIGN, FREE, RFREE, USABLE, RFRESH, RGHOST, WAF, OVF, PAST, DFREE, INV, RFORGE, STORE, MISC = 0,3,4,5,6,9,10,11,12,13,15,17,18,19,20,21,22
def size_tiny(n): return bytes([1, n >> 8, n & 255])        # kind 1: v % 1025
def size_mid(n): return bytes([4, (n-1024) >> 8 & 255, (n-1024) & 255])
# kind 7: HAK_MID_MAX + 2v, the big tier to HAK_BIG_MAX, large above it
MID_MAX, BIG_MAX = 57344, 114688
def size_past_mid(n): v = (n - MID_MAX) // 2; assert 0 < v < 65536; return bytes([7, v >> 8, v & 255])
def size_big(n): assert n <= BIG_MAX; return size_past_mid(n)
def size_large(n): assert n > BIG_MAX; return size_past_mid(n)
def malloc(slot, sz): return bytes([MALLOC, slot]) + sz
def free(slot): return bytes([FREE, slot])
def rfree(slot): return bytes([RFREE, slot])
# word specs
def w_const(a, shift=0): return bytes([0 | (shift << 3), a])
def w_ptr(menu, plus=0): return bytes([2 | (plus << 3), menu])
def w_mem(i): return bytes([3, i])
def w_memx(i, b, c, one=0): return bytes([4 | (one << 7), i, b, c])
def w_xor(a, b, one=0): return bytes([5 | (one << 7), a, b])
def w_special(i): return bytes([6, i])
GLOBAL, DST = 2, 1
def SLOT(j): return 3 | (j << 3)
def GHOST(k): return 4 | (k << 3)
def waf(k, off, nw, w): return bytes([WAF, 0, k, (off // 8) | ((nw - 1) << 5)]) + w
def waf_bytes(k, off, nbytes, w): return bytes([WAF, 0, k, (off // 8) | ({1: 4, 2: 5, 4: 6}[nbytes] << 5)]) + w
def rghost(k, off): return bytes([RGHOST, 0, k, off // 8])
def dfree(k, how): return bytes([DFREE, 0, k, how])
def inv(kind, v, how, slot): return bytes([INV, 0, kind, v >> 8, v & 255, how, slot])
def ovf(slot, mode, k, w0, w1): return bytes([OVF, slot, mode, k - 1]) + w0 + w1
def past(slot, pages, ws): return bytes([PAST, slot, pages - 1]) + b''.join(ws)
def rforge(slot, nw, w0, w1): return bytes([RFORGE, slot, nw - 1]) + w0 + w1
def store(slot, idx, w): return bytes([STORE, slot, idx]) + w
seeds = {
 # free-list steering: forged pointers written into a freed block, then mallocs
 'waf_steer': malloc(0, size_tiny(64)) + malloc(1, size_tiny(64)) + malloc(2, size_tiny(64)) + free(1)
    + waf(0, 0, 2, w_ptr(GLOBAL)) + b''.join(malloc(10 + i, size_tiny(64)) for i in range(4)),
 # a one-byte write into a freed block's first word (no secret needed)
 'waf_partial_byte': b''.join(malloc(i, size_tiny(64)) for i in range(6)) + free(1) + free(2)
    + waf_bytes(0, 0, 1, w_const(0x47)) + b''.join(malloc(10 + i, size_tiny(64)) for i in range(4)),
 'waf_steer_live': malloc(0, size_tiny(64)) + malloc(1, size_tiny(64)) + free(1)
    + waf(0, 0, 1, w_ptr(SLOT(0))) + b''.join(malloc(10 + i, size_tiny(64)) for i in range(4)),
 # a freed block's word read, XOR-ed into a self-loop (link = next ^ key ^ addr)
 'read_forge_selfloop': malloc(0, size_tiny(48)) + malloc(1, size_tiny(48)) + malloc(2, size_tiny(48)) + free(0) + free(1)
    + rghost(0, 0) + waf(0, 0, 1, w_memx(0, GHOST(1), GHOST(0))) + b''.join(malloc(10 + i, size_tiny(48)) for i in range(3)),
 'read_forge_selfloop0': malloc(0, size_tiny(0)) + malloc(1, size_tiny(0)) + malloc(2, size_tiny(0)) + free(0) + free(1)
    + rghost(0, 0) + waf(0, 0, 1, w_memx(0, GHOST(1), GHOST(0))) + b''.join(malloc(10 + i, size_tiny(0)) for i in range(3)),
 # a fresh block's words read, then used in a forged link
 'read_fresh_forge': bytes([RFRESH, 5]) + size_tiny(32) + malloc(0, size_tiny(32)) + free(0)
    + waf(0, 0, 1, w_memx(0, DST, SLOT(5))) + b''.join(malloc(10 + i, size_tiny(32)) for i in range(3)),
 # double free after the program wrote the freed block (a tag in user bytes)
 'double_free_after_write': malloc(0, size_tiny(64)) + malloc(1, size_tiny(64)) + free(0)
    + waf(0, 8, 1, w_special(0)) + waf(0, 0, 1, w_special(0)) + dfree(0, 0),
 'double_free_remote': malloc(0, size_tiny(100)) + malloc(1, size_tiny(100)) + rfree(0) + dfree(0, 0),
 'double_free_large': malloc(0, size_large(130000)) + free(0) + dfree(0, 0),
 'double_free_big': malloc(0, size_big(100000)) + malloc(1, size_big(100000)) + free(0) + dfree(0, 0),
 'realloc_freed_mid': malloc(0, size_mid(3000)) + malloc(1, size_mid(3000)) + free(0) + dfree(0, 2),
 # slots never handed out: free, free from another thread, realloc, usable size
 'never_handed_out': malloc(0, size_tiny(64)) + inv(1, 0xffff, 1, 0),
 'never_handed_out_owner': malloc(0, size_tiny(64)) + inv(1, 0xfff0, 0, 0),
 'never_handed_out_usable': malloc(0, size_mid(2000)) + inv(1, 0x00fe, 3, 0),
 # interior, foreign, wild pointers
 'invalid_interior': malloc(0, size_tiny(200)) + inv(0, 40, 0, 0),
 'invalid_global': inv(3, 3, 0, 0),
 'invalid_stack_realloc': inv(4, 1, 2, 0),
 'invalid_libc': inv(5, 0, 0, 0),
 'invalid_large_interior': malloc(0, size_large(150000)) + inv(6, 2, 0, 0),
 'invalid_big_interior': malloc(0, size_big(80000)) + malloc(1, size_big(80000)) + inv(6, 2, 0, 0),
 'invalid_wild': inv(7, 0x1235, 3, 0),
 # forged words in a block another thread freed (a forged queue node)
 'remote_forge': malloc(0, size_tiny(64)) + malloc(1, size_tiny(64)) + malloc(2, size_tiny(64))
    + rforge(1, 2, w_ptr(SLOT(0)), w_xor(SLOT(0), DST, 1)) + b''.join(malloc(10 + i, size_tiny(64)) for i in range(4)),
 'remote_forge_read': malloc(0, size_tiny(64)) + malloc(1, size_tiny(64)) + rfree(1) + rghost(0, 0) + rghost(0, 8)
    + store(0, 1, w_memx(1, GHOST(0), SLOT(0))) + store(0, 0, w_memx(0, GHOST(0), SLOT(0)))
    + waf(0, 0, 1, w_memx(0, SLOT(0), 0))
    + b''.join(malloc(10 + i, size_tiny(64)) for i in range(40)),
 # linear overflow of a small block into its slab (neighbours), with forged words
 'overflow_small': b''.join(malloc(i, size_tiny(48)) for i in range(4)) + free(2)
    + ovf(1, 0, 32, w_ptr(GLOBAL), w_ptr(GLOBAL)) + b''.join(malloc(10 + i, size_tiny(48)) for i in range(3)),
 'overflow_mid_k': b''.join(malloc(i, size_mid(5000)) for i in range(3)) + ovf(0, 1, 64, w_const(0x41), w_const(0x41)) + free(0) + free(1),
 'overflow_large_slack': malloc(0, size_large(150000)) + ovf(0, 0, 16, w_special(1), w_special(1)) + free(0),
 'overflow_big_k': b''.join(malloc(i, size_big(70000)) for i in range(3)) + ovf(0, 1, 64, w_const(0x41), w_const(0x41)) + free(0) + free(1),
 # off the end of a large mapping into hakmem's next mapping (heap record, table)
 'overflow_past_large': malloc(0, size_tiny(16)) + b''.join(malloc(1 + i, size_large(130000)) for i in range(4))
    + b''.join(past(1 + i, 4, [w_ptr(GLOBAL), w_ptr(GLOBAL), w_const(0x11, 3), w_const(0x10, 3)]) for i in range(4)),
 'overflow_past_table': b''.join(malloc(i, size_large(120000)) for i in range(40))
    + b''.join(past(i, 8, [w_ptr(GLOBAL), w_ptr(GLOBAL), w_const(0x11, 3), w_const(0x10, 3)]) for i in range(0, 40, 3)),
 # plain operations: every allocation entry point and usable size
 'ops_all': malloc(0, size_tiny(0)) + bytes([CALLOC, 1]) + size_mid(4000) + bytes([3])
    + bytes([REALLOC, 0]) + size_mid(9000) + bytes([1]) + bytes([MEMALIGN, 2, 8]) + size_tiny(100) + bytes([0])
    + bytes([MEMALIGN, 3, 16]) + size_large(120000) + bytes([2]) + bytes([MEMALIGN, 4, 0]) + size_tiny(10) + bytes([4])
    + bytes([USABLE, 0, USABLE, 3]) + bytes([MISC, 0, 0]) + rfree(1) + free(2) + bytes([MISC, 0, 1]),
}
for name, data in seeds.items():
    open(os.path.join(out, name), 'wb').write(data)
print(len(seeds), 'seeds')
