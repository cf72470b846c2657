/*
 * arca serve --auth FILE: who may read and who may write.
 *
 * FILE holds one credential a line; blank lines and lines starting with
 * '#' are skipped:
 *
 *   bearer TOKEN read|write     "Authorization: Bearer TOKEN" (RFC 6750
 *                               2.1; TOKEN is its b64token, at least 16
 *                               characters)
 *   USER:HASH                   an htpasswd line (htpasswd -B) with a
 *                               bcrypt hash, "$2y$" or "$2b$"; such a
 *                               user may read and write, over
 *                               "Authorization: Basic" (RFC 7617)
 *
 * Tokens are kept only as their SHA-256 and compared with CRYPTO_memcmp
 * against every token of the file (no early exit), so the time taken
 * says nothing about how much of a token was right. Passwords are
 * checked by libxcrypt's crypt_r(3) against the bcrypt hash; the Basic
 * header is decoded by libmicrohttpd (MHD_basic_auth_get_username_
 * password). bcrypt costs milliseconds by design and a client sends its
 * password with every request, so a successful check is remembered per
 * user: the SHA-256 of (a random per-process salt, user, hash, password)
 * of the last password that matched. A request whose password gives the
 * same digest is accepted without bcrypt; any other password goes
 * through bcrypt again, and failures are never remembered. (bazel-remote
 * runs bcrypt on every request: go-http-auth's BasicAuth.CheckAuth
 * calls bcrypt.CompareHashAndPassword each time. Apache's
 * mod_authn_socache and Caddy's basicauth cache do what is done here.)
 * An unknown user costs a bcrypt too, against another user's hash, so
 * the time does not tell which user names exist.
 *
 * Nothing here logs a token, a password or a hash: error messages name
 * the file, the line and what is wrong with it.
 */
#include "server.h"

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define TOKEN_MIN 16
#define BCRYPT_LEN 60   /* "$2y$NN$" + 22 salt + 31 hash characters */

typedef struct auth_token {
	unsigned char digest[32];    /* SHA-256 of the token */
	srv_cred scope;
	unsigned int line;
} auth_token;

typedef struct auth_user {
	char *name;
	char hash[BCRYPT_LEN + 1];
	unsigned int line;
	int verified;                /* verified_key holds a good password's */
	unsigned char verified_key[32];
} auth_user;

struct srv_auth {
	auth_token *tokens;
	size_t n_tokens;
	auth_user *users;
	size_t n_users;
	unsigned char salt[32];
	pthread_mutex_t lock;        /* the users' verified keys */
};

static int sha256(unsigned char out[32], const void *a, size_t alen)
{
	unsigned int n = 0;

	return EVP_Digest(a, alen, out, &n, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

/* SHA-256(salt, user NUL hash NUL password): what a cached success is. */
static int password_key(unsigned char out[32], const srv_auth *a,
		const auth_user *u, const char *password)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (md == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(md, a->salt, sizeof(a->salt)) == 1 &&
		EVP_DigestUpdate(md, u->name, strlen(u->name) + 1) == 1 &&
		EVP_DigestUpdate(md, u->hash, strlen(u->hash) + 1) == 1 &&
		EVP_DigestUpdate(md, password, strlen(password)) == 1 &&
		EVP_DigestFinal_ex(md, out, &n) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
 * "+" / "/" ) *"=" */
static int is_b64token(const char *t)
{
	const char *p = t;

	while (isalnum((unsigned char)*p) || (*p && strchr("-._~+/", *p)))
		p++;
	if (p == t)
		return 0;
	while (*p == '=')
		p++;
	return *p == '\0';
}

static int is_bcrypt(const char *h)
{
	size_t i;

	if (strlen(h) != BCRYPT_LEN || h[0] != '$' || h[1] != '2' ||
			(h[2] != 'y' && h[2] != 'b') || h[3] != '$' ||
			!isdigit((unsigned char)h[4]) ||
			!isdigit((unsigned char)h[5]) || h[6] != '$')
		return 0;
	for (i = 7; i < BCRYPT_LEN; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '/')
			return 0;
	/* libxcrypt itself agrees that this is a setting it can use. */
	return crypt_checksalt(h) == CRYPT_SALT_OK;
}

static int bad_line(const char *path, unsigned int line, const char *fmt,
		...) SRV_PRINTF(3, 4);
static int bad_line(const char *path, unsigned int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv_log_msg("%s:%u: %s", path, line, msg);
	return -1;
}

static int add_token(srv_auth *a, const char *path, unsigned int line,
		char *rest)
{
	char *save = NULL, *token, *scope, *extra;
	auth_token t, *grown;
	size_t i;

	token = strtok_r(rest, " \t", &save);
	scope = token ? strtok_r(NULL, " \t", &save) : NULL;
	extra = scope ? strtok_r(NULL, " \t", &save) : NULL;
	if (token == NULL || scope == NULL || extra != NULL)
		return bad_line(path, line, "expected 'bearer TOKEN read|write'");
	if (!is_b64token(token))
		return bad_line(path, line, "the token has characters outside "
				"RFC 6750's b64token (A-Z a-z 0-9 - . _ ~ + / "
				"and trailing =)");
	if (strlen(token) < TOKEN_MIN)
		return bad_line(path, line, "the token is shorter than %d "
				"characters (make one with: openssl rand -hex "
				"32)", TOKEN_MIN);
	memset(&t, 0, sizeof(t));
	if (strcmp(scope, "read") == 0)
		t.scope = SRV_CRED_READ;
	else if (strcmp(scope, "write") == 0)
		t.scope = SRV_CRED_WRITE;
	else
		return bad_line(path, line, "scope '%.32s': expected read or "
				"write", scope);
	t.line = line;
	if (sha256(t.digest, token, strlen(token)) < 0)
		return bad_line(path, line, "cannot hash the token");
	OPENSSL_cleanse(token, strlen(token));
	for (i = 0; i < a->n_tokens; i++)
		if (memcmp(a->tokens[i].digest, t.digest, 32) == 0)
			return bad_line(path, line, "the same token as line %u",
					a->tokens[i].line);
	if ((grown = realloc(a->tokens, (a->n_tokens + 1) *
			sizeof(*grown))) == NULL)
		return bad_line(path, line, "out of memory");
	a->tokens = grown;
	a->tokens[a->n_tokens++] = t;
	return 0;
}

static int add_user(srv_auth *a, const char *path, unsigned int line,
		char *text)
{
	char *colon = strchr(text, ':'), *hash;
	auth_user u, *grown;
	size_t i;
	const char *p;

	*colon = '\0';
	hash = colon + 1;
	if (text[0] == '\0')
		return bad_line(path, line, "htpasswd line with an empty user "
				"name");
	for (p = text; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return bad_line(path, line, "user name with a space or "
					"a byte outside printable ASCII");
	if (strncmp(hash, "$2y$", 4) != 0 && strncmp(hash, "$2b$", 4) != 0)
		return bad_line(path, line, "user '%.64s': the hash is not "
				"bcrypt ($2y$ or $2b$; make one with "
				"htpasswd -B)", text);
	if (!is_bcrypt(hash))
		return bad_line(path, line, "user '%.64s': malformed bcrypt "
				"hash", text);
	for (i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i].name, text) == 0)
			return bad_line(path, line, "user '%.64s' is also on "
					"line %u", text, a->users[i].line);
	memset(&u, 0, sizeof(u));
	memcpy(u.hash, hash, BCRYPT_LEN + 1);
	u.line = line;
	if ((u.name = strdup(text)) == NULL ||
			(grown = realloc(a->users, (a->n_users + 1) *
			sizeof(*grown))) == NULL) {
		free(u.name);
		return bad_line(path, line, "out of memory");
	}
	a->users = grown;
	a->users[a->n_users++] = u;
	return 0;
}

int srv_auth_load(srv_auth **out, const char *path)
{
	srv_auth *a = NULL;
	FILE *f = NULL;
	char *line = NULL, *p;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	int error = -1;

	*out = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		srv_log_msg("--auth %s: %s", path, strerror(errno));
		return -1;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
			RAND_bytes(a->salt, sizeof(a->salt)) != 1) {
		srv_log_msg("--auth %s: out of memory or no randomness", path);
		goto cleanup;
	}
	pthread_mutex_init(&a->lock, NULL);
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
				line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strlen(line) != (size_t)len) {
			bad_line(path, lineno, "NUL byte in the line");
			goto cleanup;
		}
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		if (strncmp(p, "bearer", 6) == 0 &&
				(p[6] == ' ' || p[6] == '\t')) {
			if (add_token(a, path, lineno, p + 6) < 0)
				goto cleanup;
		} else if (strchr(p, ':') != NULL) {
			if (add_user(a, path, lineno, p) < 0)
				goto cleanup;
		} else {
			bad_line(path, lineno, "expected 'bearer TOKEN "
					"read|write' or an htpasswd line "
					"USER:HASH");
			goto cleanup;
		}
		OPENSSL_cleanse(line, cap);
	}
	if (ferror(f)) {
		srv_log_msg("--auth %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (a->n_tokens == 0 && a->n_users == 0) {
		srv_log_msg("--auth %s: no credentials in the file", path);
		goto cleanup;
	}
	*out = a;
	a = NULL;
	error = 0;
cleanup:
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	if (f != NULL)
		fclose(f);
	srv_auth_free(a);
	return error;
}

void srv_auth_free(srv_auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_users; i++)
		free(a->users[i].name);
	free(a->users);
	free(a->tokens);
	pthread_mutex_destroy(&a->lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

static srv_cred check_bearer(const srv_auth *a, const char *token)
{
	unsigned char digest[32];
	srv_cred found = SRV_CRED_INVALID;
	size_t i;

	if (!is_b64token(token) || sha256(digest, token, strlen(token)) < 0)
		return SRV_CRED_INVALID;
	/* Every token is compared, whatever matched before. */
	for (i = 0; i < a->n_tokens; i++)
		if (CRYPTO_memcmp(a->tokens[i].digest, digest, 32) == 0)
			found = a->tokens[i].scope;
	return found;
}

static srv_cred check_basic(srv_auth *a, const char *user,
		const char *password)
{
	struct crypt_data *cd = NULL;
	unsigned char key[32];
	auth_user *u = NULL;
	const char *hash, *got;
	srv_cred res = SRV_CRED_INVALID;
	size_t i;
	int cached = 0;

	for (i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i].name, user) == 0)
			u = &a->users[i];
	if (u != NULL && password_key(key, a, u, password) == 0) {
		pthread_mutex_lock(&a->lock);
		cached = u->verified &&
			CRYPTO_memcmp(u->verified_key, key, 32) == 0;
		pthread_mutex_unlock(&a->lock);
		if (cached)
			return SRV_CRED_WRITE;
	}
	if (a->n_users == 0)
		return SRV_CRED_INVALID;
	/* An unknown user costs one bcrypt too (against the first user's
	 * hash, which it then cannot match). */
	hash = u != NULL ? u->hash : a->users[0].hash;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return SRV_CRED_INVALID;
	got = crypt_r(password, hash, cd);
	if (u != NULL && got != NULL && strlen(got) == BCRYPT_LEN &&
			CRYPTO_memcmp(got, hash, BCRYPT_LEN) == 0) {
		res = SRV_CRED_WRITE;
		pthread_mutex_lock(&a->lock);
		memcpy(u->verified_key, key, 32);
		u->verified = 1;
		pthread_mutex_unlock(&a->lock);
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	OPENSSL_cleanse(key, sizeof(key));
	return res;
}

srv_cred srv_auth_check(srv_auth *a, struct MHD_Connection *conn)
{
	const char *h;
	char *user, *password = NULL;
	srv_cred res;

	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL)
		return SRV_CRED_ABSENT;
	/* The scheme is case-insensitive (RFC 9110 11.1). */
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		for (h += 7; *h == ' '; h++)
			;
		return check_bearer(a, h);
	}
	user = MHD_basic_auth_get_username_password(conn, &password);
	if (user == NULL || password == NULL) {
		MHD_free(user);
		MHD_free(password);
		return SRV_CRED_INVALID;
	}
	res = check_basic(a, user, password);
	OPENSSL_cleanse(password, strlen(password));
	MHD_free(user);
	MHD_free(password);
	return res;
}
