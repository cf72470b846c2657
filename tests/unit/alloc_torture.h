/*
 * curl's torture mode for the unit tests: from the Nth allocation on,
 * every allocation fails, until alloc_torture_disarm(). malloc, calloc,
 * realloc and free are replaced through glibc's __libc_* entry points, so
 * this exists on glibc only and not under AddressSanitizer (which brings
 * its own allocator): ALLOC_TORTURE is defined when it is available.
 */
#ifndef ARCA_TEST_ALLOC_TORTURE_H
#define ARCA_TEST_ALLOC_TORTURE_H

#include <stdlib.h> /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define ALLOC_TORTURE 1

/* Let n more allocations succeed, then refuse every one. */
void alloc_torture_arm(long n);
void alloc_torture_disarm(void);
/* Allocations minus frees made while armed (0: nothing leaked). */
long alloc_torture_live(void);
/* Whether an allocation was refused since the last arm. */
int alloc_torture_hit(void);
#endif

#endif
