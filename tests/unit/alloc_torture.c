/* See alloc_torture.h. */
#include "alloc_torture.h"

#ifdef ALLOC_TORTURE
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static int torture_armed;
static long torture_left;  /* allocations that still succeed */
static long torture_live;  /* allocations minus frees while armed */
static int torture_hit;    /* an allocation was refused */

static int torture_refuse(void)
{
	if (!torture_armed)
		return 0;
	if (torture_left > 0) {
		torture_left--;
		return 0;
	}
	torture_hit = 1;
	return 1;
}

void *malloc(size_t size)
{
	void *p;

	if (torture_refuse())
		return NULL;
	p = __libc_malloc(size);
	if (p != NULL && torture_armed)
		torture_live++;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (torture_refuse())
		return NULL;
	p = __libc_calloc(n, size);
	if (p != NULL && torture_armed)
		torture_live++;
	return p;
}

void *realloc(void *old, size_t size)
{
	void *p;

	if (torture_refuse())
		return NULL;
	p = __libc_realloc(old, size);
	if (p != NULL && old == NULL && torture_armed)
		torture_live++;
	return p;
}

void free(void *p)
{
	if (p != NULL && torture_armed)
		torture_live--;
	__libc_free(p);
}

void alloc_torture_arm(long n)
{
	torture_left = n;
	torture_live = 0;
	torture_hit = 0;
	torture_armed = 1;
}

void alloc_torture_disarm(void)
{
	torture_armed = 0;
}

long alloc_torture_live(void)
{
	return torture_live;
}

int alloc_torture_hit(void)
{
	return torture_hit;
}
#endif
