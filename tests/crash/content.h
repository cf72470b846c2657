/*
 * Blob contents of the crash-state test, regenerated from a seed: the
 * writer stores them, the checker compares what it reads back with them.
 */
#ifndef ARCA_CRASH_CONTENT_H
#define ARCA_CRASH_CONTENT_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 (Steele, Lea and Flood, OOPSLA 2014). */
static inline uint64_t crash_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fill buf with the len bytes of the blob of this seed. */
static inline void crash_content(unsigned char *buf, size_t len,
		uint64_t seed)
{
	uint64_t state = seed, v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = crash_next(&state);
		buf[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
}

#endif
