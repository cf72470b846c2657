/*
 * libcurl and libxml2 loaded with dlopen() at first use: see lazy_lib.h
 * for why. dlopen(3), dlsym(3): POSIX.1-2008.
 */
#define ARCA__LAZY_LIB_IMPL 1
#include "internal.h"
#include "lazy_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

struct arca__curl_api arca__curl_api;
struct arca__xml_api arca__xml_api;

typedef struct lazy_lib {
	const char *soname;
	pthread_once_t once;
	int result;                 /* 0, or an ARCA_E* code */
	char why[256];              /* dlerror() or the init failure */
} lazy_lib;

static lazy_lib curl_lib = { "libcurl.so.4", PTHREAD_ONCE_INIT, 0, "" };
static lazy_lib xml_lib = { "libxml2.so.2", PTHREAD_ONCE_INIT, 0, "" };

/* dlopen lib and dlsym names[i] into slots[i]; 0 or ARCA_EUNAVAILABLE
 * with lib->why set. The handle is kept for the process's life. */
static int load(lazy_lib *lib, const char *const *names, void **slots,
		size_t n)
{
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (h == NULL) {
		snprintf(lib->why, sizeof(lib->why), "%s", dlerror());
		return ARCA_EUNAVAILABLE;
	}
	for (i = 0; i < n; i++) {
		(void)dlerror();
		if ((slots[i] = dlsym(h, names[i])) == NULL) {
			snprintf(lib->why, sizeof(lib->why), "%s: no %s",
					lib->soname, names[i]);
			return ARCA_EUNAVAILABLE;
		}
	}
	return 0;
}

#define ARCA__LAZY_NAME(name) #name,
static const char *const curl_names[] = {
	ARCA__CURL_FUNCS(ARCA__LAZY_NAME)
};
static const char *const xml_names[] = {
	ARCA__XML_FUNCS(ARCA__LAZY_NAME)
};
#undef ARCA__LAZY_NAME

/* The tables are arrays of function pointers in all but name: the slots
 * are filled through a void * array of the same length and copied. */
static void curl_once(void)
{
	void *slots[sizeof(curl_names) / sizeof(curl_names[0])];
	CURLcode rc;

	_Static_assert(sizeof(slots) == sizeof(arca__curl_api),
			"one slot per function");
	curl_lib.result = load(&curl_lib, curl_names, slots,
			sizeof(slots) / sizeof(slots[0]));
	if (curl_lib.result < 0)
		return;
	memcpy(&arca__curl_api, slots, sizeof(slots));
	/* TLS reads openssl.cnf; digests alone do not (digest.c). */
	arca__openssl_load_config();
	if ((rc = arca__curl_api.curl_global_init(CURL_GLOBAL_DEFAULT)) !=
	    CURLE_OK) {
		snprintf(curl_lib.why, sizeof(curl_lib.why),
				"curl_global_init: %s",
				arca__curl_api.curl_easy_strerror(rc));
		curl_lib.result = ARCA_EIO;
	}
}

static void xml_once(void)
{
	void *slots[sizeof(xml_names) / sizeof(xml_names[0])];

	_Static_assert(sizeof(slots) == sizeof(arca__xml_api),
			"one slot per function");
	xml_lib.result = load(&xml_lib, xml_names, slots,
			sizeof(slots) / sizeof(slots[0]));
	if (xml_lib.result < 0)
		return;
	memcpy(&arca__xml_api, slots, sizeof(slots));
	arca__xml_api.xmlInitParser();
}

static int loaded(lazy_lib *lib, void (*fn)(void))
{
	if (pthread_once(&lib->once, fn) != 0)
		return arca__error(ARCA_EIO, "cannot load %s: pthread_once "
				"failed", lib->soname);
	if (lib->result < 0)
		return arca__error(lib->result, "cannot load %s: %s",
				lib->soname, lib->why);
	return 0;
}

int arca__curl_load(void)
{
	return loaded(&curl_lib, curl_once);
}

int arca__xml_load(void)
{
	return loaded(&xml_lib, xml_once);
}
