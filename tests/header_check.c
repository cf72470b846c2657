/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: the public
 * headers must stand alone under strict flags. arca/stage.h comes first
 * so that it is seen compiling on its own. */
#include "arca/stage.h"
#include "arca/arca.h"
#include "arca/sys/backend.h"
#include "arca/sys/redis.h"
#include "arca/sys/redis_cluster.h"
#include "arca/sys/s3.h"
#include "arca/sys/http.h"

int arca_header_check(void);
int arca_header_check(void)
{
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;

	return spec.version == ARCA_STAGE_SPEC_VERSION ? ARCA_OK : ARCA_EINVAL;
}
