/*
 * fpu [ITERATIONS_MILLIONS] [sse2] (default 50, about 6 s under TCG): vector register state must
 * survive a migration, including the upper halves of the ymm registers. The state (two
 * add-rotate-xor pairs of 4x64-bit lanes plus a packed-double accumulator) stays in registers
 * for the whole run: an inline-asm loop runs N forward steps, then another runs the exact
 * inverse steps, so the state must come back to its start. The loops touch no memory. Lanes
 * never mix, and the upper 128-bit halves use other start values and rotate counts than the
 * lower ones, so a kernel that restored only the XMM part changes only the upper lanes.
 * Output: "ready", then "fpu avx2 0x%016llx" (a fold of the state after the forward half;
 * deterministic for a given N) and "ymm_upper ok". The AVX2 path is picked at run time
 * (cpuid); without AVX2, or with the second argument "sse2", the same runs on 2x64-bit SSE2
 * lanes and prints "fpu sse2 0x%016llx" and "xmm ok". A state that did not come back prints
 * "FAIL ymm_upper ..." or "FAIL ymm/xmm lower ..." and exits 1.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27; x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The state's start (from INIT), the loops' register operands, and the stores of the state after a loop (x0, y0, x1, y1, f
 * into out[0..4]), shared by the forward and the inverse halves. */
#define STATE_OPERANDS [x0] "+x"(x0), [y0] "+x"(y0), [x1] "+x"(x1), [y1] "+x"(y1), [f] "+x"(f), \
		       [t0] "=&x"(t0), [t1] "=&x"(t1), [k] "+r"(k)
#define LOAD_STATE(T, TD, load, zero) \
	T x0 = load((const T *)INIT[0]), y0 = load((const T *)INIT[1]), t0, t1; \
	T x1 = load((const T *)INIT[2]), y1 = load((const T *)INIT[3]); \
	TD f = zero()
#define STORE256(out) do { \
	_mm256_storeu_si256((__m256i *)(out)[0], x0); _mm256_storeu_si256((__m256i *)(out)[1], y0); \
	_mm256_storeu_si256((__m256i *)(out)[2], x1); _mm256_storeu_si256((__m256i *)(out)[3], y1); \
	_mm256_storeu_pd((double *)(out)[4], f); } while (0)
#define STORE128(out) do { \
	_mm_storeu_si128((__m128i *)(out)[0], x0); _mm_storeu_si128((__m128i *)(out)[1], y0); \
	_mm_storeu_si128((__m128i *)(out)[2], x1); _mm_storeu_si128((__m128i *)(out)[3], y1); \
	_mm_storeu_pd((double *)(out)[4], f); } while (0)

/* Start values of x0, y0, x1, y1 (lanes 0-1 are the low 128-bit half; SSE2 uses only those).
 * The end check reads them back from memory: copies kept in registers could be corrupted
 * just like the state. */
static const uint64_t INIT[4][4] = {
	{ 0x1111, 0x2222, 0x3333, 0x4444 },
	{ 0x9e3779b97f4a7c15, 0x243f6a8885a308d3, 0x13198a2e03707344, 0xa4093822299f31d0 },
	{ 0x5555, 0x6666, 0x7777, 0x8888 },
	{ 0x082efa98ec4e6c89, 0x452821e638d01377, 0xbe5466cf34e90c6c, 0xc0ac29b7c97c50dd },
};

/* Is fin (x0, y0, x1, y1, f) back at the start in lanes [lo, hi)? */
static int back_at_start(uint64_t fin[5][4], int lo, int hi)
{
	const volatile uint64_t (*init)[4] = INIT;
	int same = 1;
	for (int l = lo; l < hi; l++) {
		for (int v = 0; v < 4; v++)
			same &= fin[v][l] == init[v][l];
		same &= fin[4][l] == 0;		/* f is +0.0 again */
	}
	return same;
}

/* st[0..3] = x0, y0, x1, y1 (integer lanes), st[4] = f (double lanes); 4 u64 each. */
static uint64_t fold(uint64_t st[5][4], int lanes)
{
	uint64_t h = 0;
	for (int v = 0; v < 5; v++)
		for (int l = 0; l < lanes; l++)
			h = mix(h ^ st[v][l]);
	return h;
}

/* Fills st with the state after the forward half, ok[0]/ok[1] with lower/upper-half checks. */
__attribute__((target("avx2")))
static void run_avx2(uint64_t n, uint64_t st[5][4], int ok[2])
{
	const __m256i sl = _mm256_set_epi64x(41, 7, 29, 13);	/* upper lanes rotate differently */
	const __m256i sr = _mm256_sub_epi64(_mm256_set1_epi64x(64), sl);
	const __m256d c = _mm256_set_pd(7.0, 5.0, 3.0, 1.0);
	LOAD_STATE(__m256i, __m256d, _mm256_loadu_si256, _mm256_setzero_pd);
	uint64_t fin[5][4];
	uint64_t k = n;

	asm volatile("test %[k], %[k]\n\tjz 2f\n"
		     "1:\n\t"
		     "vpaddq %[y0], %[x0], %[x0]\n\t"	/* x += y; y = rotl(y, sl) ^ x */
		     "vpaddq %[y1], %[x1], %[x1]\n\t"
		     "vpsllvq %[sl], %[y0], %[t0]\n\t"
		     "vpsllvq %[sl], %[y1], %[t1]\n\t"
		     "vpsrlvq %[sr], %[y0], %[y0]\n\t"
		     "vpsrlvq %[sr], %[y1], %[y1]\n\t"
		     "vpor %[t0], %[y0], %[y0]\n\t"
		     "vpor %[t1], %[y1], %[y1]\n\t"
		     "vpxor %[x0], %[y0], %[y0]\n\t"
		     "vpxor %[x1], %[y1], %[y1]\n\t"
		     "vaddpd %[c], %[f], %[f]\n\t"
		     "dec %[k]\n\tjnz 1b\n2:"
		     : STATE_OPERANDS
		     : [sl] "x"(sl), [sr] "x"(sr), [c] "x"(c));
	STORE256(st);
	k = n;
	asm volatile("test %[k], %[k]\n\tjz 2f\n"
		     "1:\n\t"
		     "vpxor %[x0], %[y0], %[y0]\n\t"	/* y = rotr(y ^ x, sl); x -= y */
		     "vpxor %[x1], %[y1], %[y1]\n\t"
		     "vpsrlvq %[sl], %[y0], %[t0]\n\t"
		     "vpsrlvq %[sl], %[y1], %[t1]\n\t"
		     "vpsllvq %[sr], %[y0], %[y0]\n\t"
		     "vpsllvq %[sr], %[y1], %[y1]\n\t"
		     "vpor %[t0], %[y0], %[y0]\n\t"
		     "vpor %[t1], %[y1], %[y1]\n\t"
		     "vpsubq %[y0], %[x0], %[x0]\n\t"
		     "vpsubq %[y1], %[x1], %[x1]\n\t"
		     "vsubpd %[c], %[f], %[f]\n\t"
		     "dec %[k]\n\tjnz 1b\n2:"
		     : STATE_OPERANDS
		     : [sl] "x"(sl), [sr] "x"(sr), [c] "x"(c));
	STORE256(fin);
	ok[0] = back_at_start(fin, 0, 2);
	ok[1] = back_at_start(fin, 2, 4);
}

static void run_sse2(uint64_t n, uint64_t st[5][4], int ok[2])
{
	const __m128d c = _mm_set_pd(3.0, 1.0);
	LOAD_STATE(__m128i, __m128d, _mm_loadu_si128, _mm_setzero_pd);
	uint64_t fin[5][4];
	uint64_t k = n;

	asm volatile("test %[k], %[k]\n\tjz 2f\n"
		     "1:\n\t"
		     "paddq %[y0], %[x0]\n\tpaddq %[y1], %[x1]\n\t"
		     "movdqa %[y0], %[t0]\n\tmovdqa %[y1], %[t1]\n\t"
		     "psllq $13, %[t0]\n\tpsllq $29, %[t1]\n\t"
		     "psrlq $51, %[y0]\n\tpsrlq $35, %[y1]\n\t"
		     "por %[t0], %[y0]\n\tpor %[t1], %[y1]\n\t"
		     "pxor %[x0], %[y0]\n\tpxor %[x1], %[y1]\n\t"
		     "addpd %[c], %[f]\n\t"
		     "dec %[k]\n\tjnz 1b\n2:"
		     : STATE_OPERANDS
		     : [c] "x"(c));
	memset(st, 0, 5 * 4 * 8);
	STORE128(st);
	k = n;
	asm volatile("test %[k], %[k]\n\tjz 2f\n"
		     "1:\n\t"
		     "pxor %[x0], %[y0]\n\tpxor %[x1], %[y1]\n\t"
		     "movdqa %[y0], %[t0]\n\tmovdqa %[y1], %[t1]\n\t"
		     "psrlq $13, %[t0]\n\tpsrlq $29, %[t1]\n\t"
		     "psllq $51, %[y0]\n\tpsllq $35, %[y1]\n\t"
		     "por %[t0], %[y0]\n\tpor %[t1], %[y1]\n\t"
		     "psubq %[y0], %[x0]\n\tpsubq %[y1], %[x1]\n\t"
		     "subpd %[c], %[f]\n\t"
		     "dec %[k]\n\tjnz 1b\n2:"
		     : STATE_OPERANDS
		     : [c] "x"(c));
	STORE128(fin);
	ok[0] = back_at_start(fin, 0, 2);
	ok[1] = 1;
}

int main(int argc, char **argv)
{
	uint64_t n = (argc > 1 ? strtoull(argv[1], NULL, 10) : 50) * 1000000;
	int avx2 = __builtin_cpu_supports("avx2") && !(argc > 2 && !strcmp(argv[2], "sse2"));
	uint64_t st[5][4];
	int ok[2];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	if (avx2)
		run_avx2(n, st, ok);
	else
		run_sse2(n, st, ok);
	printf("fpu %s 0x%016llx\n", avx2 ? "avx2" : "sse2",
	       (unsigned long long)fold(st, avx2 ? 4 : 2));
	if (!ok[0]) {
		printf("FAIL %s lower 128 bits not restored\n", avx2 ? "ymm" : "xmm");
		return 1;
	}
	if (!ok[1]) {
		printf("FAIL ymm_upper not restored\n");
		return 1;
	}
	printf(avx2 ? "ymm_upper ok\n" : "xmm ok\n");
	return 0;
}
