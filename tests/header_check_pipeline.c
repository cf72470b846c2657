/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: arca/pipeline.h
 * first, so that it is seen compiling on its own (header_check.c does the
 * same for arca/stage.h). */
#include "arca/pipeline.h"

int arca_header_check_pipeline(void);
int arca_header_check_pipeline(void)
{
	return arca_pipeline_producer(0, "x") == 0;
}
