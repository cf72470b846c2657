/*
 * libcurl and libxml2, loaded when first needed (lazy_lib.c).
 *
 * Only remote tiers (s3://, http(s)://, the URL parsing of redis:// and
 * the tier list) and URL inputs use them, but linking them costs every
 * process: libcurl brings GnuTLS, nghttp2, Kerberos, LDAP and ICU, about
 * 35 shared objects whose loading and relocation were most of the start-up
 * time of a cache hit (10-15 ms against ccache's whole hit of 5 ms,
 * bench/README.md "The cost of a hit"). So libarca does not link them: a
 * file that uses them includes this header instead of <curl/curl.h> and
 * <libxml/...>, calls arca__curl_load() (arca__xml_load()) before its
 * first call, and its calls go through a table of the functions dlsym()
 * found in libcurl.so.4 (libxml2.so.2), the sonames Debian's runtime
 * packages libcurl4 and libxml2 ship. The types come from the real
 * headers (__typeof__), so a prototype cannot drift from the library's.
 */
#ifndef ARCA_LAZY_LIB_H
#define ARCA_LAZY_LIB_H

/* A plain prototype of curl_easy_setopt/getinfo, not typecheck-gcc.h's
 * macros, so that the names below can be redirected. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#define ARCA__CURL_FUNCS(X) \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt) \
	X(curl_easy_getinfo) X(curl_easy_perform) X(curl_easy_cleanup) \
	X(curl_easy_reset) X(curl_easy_strerror) X(curl_easy_unescape) \
	X(curl_easy_header) X(curl_free) X(curl_slist_append) \
	X(curl_slist_free_all) X(curl_url) X(curl_url_cleanup) \
	X(curl_url_get) X(curl_url_set) X(curl_url_strerror)

/* xmlFree is not a function but a variable holding one (xmlmemory.h,
 * libxml2 built without LIBXML_THREAD_ALLOC_ENABLED, as Debian's is): its
 * slot holds the variable's address, which dlsym() returns. */
#ifdef LIBXML_THREAD_ALLOC_ENABLED
#error "lazy_lib.h expects xmlFree to be a variable"
#endif
#define ARCA__XML_FUNCS(X) \
	X(xmlInitParser) X(xmlReadMemory) X(xmlDocGetRootElement) \
	X(xmlStrcmp) X(xmlNodeGetContent) X(xmlFreeDoc) X(xmlFree)

#define ARCA__LAZY_MEMBER(name) __typeof__(&name) name;
struct arca__curl_api {
	ARCA__CURL_FUNCS(ARCA__LAZY_MEMBER)
};
struct arca__xml_api {
	ARCA__XML_FUNCS(ARCA__LAZY_MEMBER)
};
#undef ARCA__LAZY_MEMBER

/* Filled by arca__curl_load() / arca__xml_load(); NULL before. */
extern struct arca__curl_api arca__curl_api;
extern struct arca__xml_api arca__xml_api;

/*
 * Load libcurl.so.4 and run curl_global_init(CURL_GLOBAL_DEFAULT), once
 * per process (thread-safe). Returns 0, or ARCA_EUNAVAILABLE with
 * "cannot load libcurl: <dlerror>" set when the library or one of its
 * functions is missing, or ARCA_EIO when curl_global_init failed. Every
 * call of a curl_* function must come after a successful call.
 */
int arca__curl_load(void);

/* Likewise for libxml2.so.2 (then xmlInitParser()). */
int arca__xml_load(void);

#ifndef ARCA__LAZY_LIB_IMPL
/* curl.h defines the two as macros that expand to themselves. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (arca__curl_api.curl_global_init)
#define curl_easy_init (arca__curl_api.curl_easy_init)
#define curl_easy_setopt (arca__curl_api.curl_easy_setopt)
#define curl_easy_getinfo (arca__curl_api.curl_easy_getinfo)
#define curl_easy_perform (arca__curl_api.curl_easy_perform)
#define curl_easy_cleanup (arca__curl_api.curl_easy_cleanup)
#define curl_easy_reset (arca__curl_api.curl_easy_reset)
#define curl_easy_strerror (arca__curl_api.curl_easy_strerror)
#define curl_easy_unescape (arca__curl_api.curl_easy_unescape)
#define curl_easy_header (arca__curl_api.curl_easy_header)
#define curl_free (arca__curl_api.curl_free)
#define curl_slist_append (arca__curl_api.curl_slist_append)
#define curl_slist_free_all (arca__curl_api.curl_slist_free_all)
#define curl_url (arca__curl_api.curl_url)
#define curl_url_cleanup (arca__curl_api.curl_url_cleanup)
#define curl_url_get (arca__curl_api.curl_url_get)
#define curl_url_set (arca__curl_api.curl_url_set)
#define curl_url_strerror (arca__curl_api.curl_url_strerror)
#define xmlInitParser (arca__xml_api.xmlInitParser)
#define xmlReadMemory (arca__xml_api.xmlReadMemory)
#define xmlDocGetRootElement (arca__xml_api.xmlDocGetRootElement)
#define xmlStrcmp (arca__xml_api.xmlStrcmp)
#define xmlNodeGetContent (arca__xml_api.xmlNodeGetContent)
#define xmlFreeDoc (arca__xml_api.xmlFreeDoc)
#define xmlFree (*arca__xml_api.xmlFree)
#endif

#endif
