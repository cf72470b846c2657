/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: arca/pipeline_run.h
 * first, so that it is seen compiling on its own. */
#include "arca/pipeline_run.h"

int arca_header_check_pipeline_run(void);
int arca_header_check_pipeline_run(void)
{
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;

	return arca_pipeline_check(0, &opts) == 0;
}
