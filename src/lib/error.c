/* Result codes and the per-thread detailed message. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errmsg[1024];

const char *arca_strerror(int code)
{
	switch (code) {
	case ARCA_OK: return "success";
	case ARCA_ENOTFOUND: return "not found";
	case ARCA_EEXISTS: return "already exists";
	case ARCA_ECORRUPT: return "corrupt: digest mismatch";
	case ARCA_EBUSY: return "busy: locked by another process";
	case ARCA_ETIMEOUT: return "timed out";
	case ARCA_EFULL: return "no space left";
	case ARCA_EIO: return "I/O error";
	case ARCA_EINVAL: return "invalid argument";
	case ARCA_ENOMEM: return "out of memory";
	case ARCA_EUNAVAILABLE: return "backend unavailable";
	case ARCA_EFATAL: return "handle in fatal state after a failed write";
	case ARCA_EPERM: return "permission denied";
	case ARCA_ENOTSTORED: return "not stored: the tier declined it";
	default: return "unknown error";
	}
}

const char *arca_errmsg(void)
{
	return errmsg;
}

int arca__error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return code;
}

void arca__error_clear(void)
{
	errmsg[0] = '\0';
}

int arca__errno_code(int err)
{
	switch (err) {
	case 0: return ARCA_OK;
	case ENOENT: return ARCA_ENOTFOUND;
	case EEXIST: return ARCA_EEXISTS;
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
	case EFBIG: return ARCA_EFULL;
	case EACCES:
	case EPERM:
	case EROFS: return ARCA_EPERM;
	case ENOMEM: return ARCA_ENOMEM;
	case EINVAL:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG: return ARCA_EINVAL;
	case EAGAIN:
	case EBUSY: return ARCA_EBUSY;
	case ETIMEDOUT: return ARCA_ETIMEOUT;
	default: return ARCA_EIO;
	}
}

int arca__error_errno(int err, const char *what, const char *path)
{
	return arca__error(arca__errno_code(err), "%s %s: %s", what, path,
			strerror(err));
}

char *arca__strdup(const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	p = malloc(n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

int arca__strdup_checked(char **out, const char *s)
{
	*out = arca__strdup(s);
	if (s != NULL && *out == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory copying a string");
	return 0;
}
