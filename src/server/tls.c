/*
 * --tls-cert FILE --tls-key FILE: the PEM files libmicrohttpd's GnuTLS
 * support is given (MHD_USE_TLS, MHD_OPTION_HTTPS_MEM_CERT and
 * MHD_OPTION_HTTPS_MEM_KEY take the PEM text, not file names).
 *
 * Both are read and checked at startup with OpenSSL's libcrypto (already
 * linked for SHA-256): the certificate must parse, the key must parse
 * without a passphrase, and the key must be the certificate's
 * (X509_check_private_key), so that a wrong --tls-key is one line and
 * exit 2 rather than a handshake that fails for every client.
 */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define PEM_MAX (1024 * 1024)

static char *read_pem(const char *opt, const char *path)
{
	FILE *f;
	char *buf = NULL;
	size_t n = 0;
	struct stat st;

	if ((f = fopen(path, "re")) == NULL) {
		srv_log_msg("%s %s: %s", opt, path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size > PEM_MAX) {
		srv_log_msg("%s %s: not a PEM file of at most 1 MiB", opt, path);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		srv_log_msg("%s %s: out of memory", opt, path);
		goto fail;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		srv_log_msg("%s %s: %s", opt, path, strerror(errno));
		goto fail;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
fail:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)st.st_size);
		free(buf);
	}
	fclose(f);
	return NULL;
}

/* No passphrase prompt on the terminal: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf; (void)size; (void)rw; (void)u;
	return 0;
}

int srv_tls_load(char **cert_out, char **key_out, const char *cert_path,
		const char *key_path)
{
	char *cert = NULL, *key = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int error = -1;

	*cert_out = *key_out = NULL;
	if ((cert = read_pem("--tls-cert", cert_path)) == NULL ||
			(key = read_pem("--tls-key", key_path)) == NULL)
		goto cleanup;
	if ((bio = BIO_new_mem_buf(cert, -1)) == NULL ||
			(x = PEM_read_bio_X509(bio, NULL, no_passphrase,
			NULL)) == NULL) {
		srv_log_msg("--tls-cert %s: no PEM certificate in the file",
				cert_path);
		goto cleanup;
	}
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(key, -1)) == NULL ||
			(pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
			NULL)) == NULL) {
		srv_log_msg("--tls-key %s: no unencrypted PEM private key in "
				"the file", key_path);
		goto cleanup;
	}
	if (X509_check_private_key(x, pk) != 1) {
		srv_log_msg("--tls-key %s: not the key of the certificate in "
				"--tls-cert %s", key_path, cert_path);
		goto cleanup;
	}
	*cert_out = cert;
	*key_out = key;
	cert = key = NULL;
	error = 0;
cleanup:
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(pk);
	free(cert);
	srv_tls_free(key);
	return error;
}

void srv_tls_free(char *pem)
{
	if (pem == NULL)
		return;
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
}
