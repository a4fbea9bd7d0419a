/* buf.c - the growth rule of buf.h. */
#include <stdlib.h>

#include "buf.h"

void *buf_grow(void *p, size_t *cap, size_t need, size_t first)
{
	if (p && need <= *cap)
		return p;
	size_t n = *cap ? *cap : first;
	while (n < need)
		n *= 2;
	void *q = realloc(p, n);
	if (q)
		*cap = n;
	return q;
}
