/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: the public
 * headers must stand alone under strict flags. */
#include "arca/pipeline.h" /* first: it must not need arca.h */
#include "arca/arca.h"
#include "arca/sys/backend.h"

int arca_header_check(void);
int arca_header_check(void)
{
	return ARCA_OK;
}
