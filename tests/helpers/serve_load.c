/*
 * serve_load: many parallel clients against one `arca serve`, mixing
 * PUTs and GETs, counting every failed request and every wrong byte
 * (tests/cli/test_serve_load.sh).
 *
 *   serve_load URL SECONDS CLIENTS [-H HEADER]... [-u USER:PASS]
 *
 * CLIENTS libcurl easy handles run in one libcurl multi handle, each on
 * its own keep-alive connection. Each client loops until SECONDS are
 * over: it PUTs a new random blob to /cas/<sha256> (most a few KiB and
 * so inline in the index, one in five 100-300 KiB and so a file blob
 * sent with sendfile), or GETs back its own last blob or any blob some
 * client has stored, hashing the body as it arrives and comparing its
 * SHA-256 and size with the path's. A request fails when curl reports
 * an error or the status is not 200 (PUT: 200 or 201); a GET is wrong
 * when its bytes are not the blob's. Prints one line
 *
 *   requests=N puts=P gets=G failed=F wrong=W seconds=S rps=R
 *
 * and exits 0 only when F and W are both 0 and every client made
 * requests; the first few failures are told on stderr.
 */
#include <curl/curl.h>
#include <openssl/evp.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct blob {
	char hex[65];
	size_t size;
	uint64_t seed;
} blob;

typedef struct client {
	CURL *easy;
	struct curl_slist *headers;
	uint64_t rng;
	int putting;
	blob cur;           /* the blob being put or got */
	unsigned char *data; /* PUT body */
	size_t sent;
	EVP_MD_CTX *md;     /* GET body's hash */
	size_t got;
	blob last;          /* its own last stored blob */
	int has_last;
	unsigned long requests;
} client;

static blob *blobs;
static size_t n_blobs, cap_blobs;
static unsigned long n_req, n_put, n_get, n_failed, n_wrong;
static const char *base_url, *userpwd;
static const char *extra_headers[8];
static size_t n_extra;

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: test data, not cryptography. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t s = seed | 1, v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			v = next_rand(&s);
		p[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
}

static void to_hex(char *out, const unsigned char *md)
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void failure(const char *what, const client *c, long status,
		CURLcode rc)
{
	if (n_failed + n_wrong <= 10)
		fprintf(stderr, "serve_load: %s %s %s: status %ld, %s\n", what,
				c->putting ? "PUT" : "GET", c->cur.hex, status,
				curl_easy_strerror(rc));
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	client *c = arg;
	size_t left = c->cur.size - c->sent, want = size * n;

	if (want > left)
		want = left;
	memcpy(buf, c->data + c->sent, want);
	c->sent += want;
	return want;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
	client *c = arg;

	EVP_DigestUpdate(c->md, buf, size * n);
	c->got += size * n;
	return size * n;
}

static void start(client *c)
{
	char url[1024];
	uint64_t r = next_rand(&c->rng);

	curl_easy_reset(c->easy);
	c->putting = n_blobs == 0 || r % 100 < 35;
	if (c->putting) {
		c->cur.seed = next_rand(&c->rng);
		c->cur.size = r % 5 == 0 ? 100 * 1024 + next_rand(&c->rng) %
			(200 * 1024) : 1 + next_rand(&c->rng) % 8192;
		free(c->data);
		c->data = malloc(c->cur.size);
		fill(c->data, c->cur.size, c->cur.seed);
		{
			unsigned char md[32];
			unsigned int len = 0;

			EVP_Digest(c->data, c->cur.size, md, &len, EVP_sha256(),
					NULL);
			to_hex(c->cur.hex, md);
		}
		c->sent = 0;
		curl_easy_setopt(c->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->easy, CURLOPT_READDATA, c);
		curl_easy_setopt(c->easy, CURLOPT_INFILESIZE_LARGE,
				(curl_off_t)c->cur.size);
	} else {
		if (c->has_last && r % 2 == 0)
			c->cur = c->last;
		else
			c->cur = blobs[next_rand(&c->rng) % n_blobs];
		EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
		c->got = 0;
	}
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	snprintf(url, sizeof(url), "%s/cas/%s", base_url, c->cur.hex);
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (userpwd != NULL) {
		curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c->easy, CURLOPT_USERPWD, userpwd);
	}
}

static void done(client *c, CURLcode rc)
{
	long status = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	n_req++;
	c->requests++;
	if (c->putting) {
		n_put++;
		if (rc != CURLE_OK || (status != 200 && status != 201)) {
			n_failed++;
			failure("failed", c, status, rc);
			return;
		}
		if (n_blobs == cap_blobs) {
			cap_blobs = cap_blobs ? cap_blobs * 2 : 4096;
			blobs = realloc(blobs, cap_blobs * sizeof(*blobs));
		}
		blobs[n_blobs++] = c->cur;
		c->last = c->cur;
		c->has_last = 1;
		return;
	}
	n_get++;
	if (rc != CURLE_OK || status != 200) {
		n_failed++;
		failure("failed", c, status, rc);
		return;
	}
	{
		unsigned char md[32];
		unsigned int len = 0;
		char hex[65];

		EVP_DigestFinal_ex(c->md, md, &len);
		to_hex(hex, md);
		if (c->got != c->cur.size || strcmp(hex, c->cur.hex) != 0) {
			n_wrong++;
			failure("wrong bytes", c, status, rc);
		}
	}
}

int main(int argc, char **argv)
{
	CURLM *multi;
	client *clients;
	double t0, seconds, until;
	int n_clients, i, running, idle = 0;
	size_t k;

	if (argc < 4) {
		fprintf(stderr, "usage: serve_load URL SECONDS CLIENTS "
				"[-H HEADER]... [-u USER:PASS]\n");
		return 2;
	}
	base_url = argv[1];
	seconds = atof(argv[2]);
	n_clients = atoi(argv[3]);
	for (i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-H") == 0 && n_extra < 8)
			extra_headers[n_extra++] = argv[i + 1];
		else if (strcmp(argv[i], "-u") == 0)
			userpwd = argv[i + 1];
	}
	if (n_clients <= 0 || seconds <= 0)
		return 2;
	curl_global_init(CURL_GLOBAL_ALL);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n_clients + 16);
	clients = calloc((size_t)n_clients, sizeof(*clients));
	for (i = 0; i < n_clients; i++) {
		client *c = &clients[i];

		c->easy = curl_easy_init();
		c->md = EVP_MD_CTX_new();
		c->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(i + 1) *
			0x9E3779B97F4A7C15ull;
		/* No "Expect: 100-continue" round trip on PUTs. */
		c->headers = curl_slist_append(NULL, "Expect:");
		for (k = 0; k < n_extra; k++)
			c->headers = curl_slist_append(c->headers,
					extra_headers[k]);
		start(c);
		curl_multi_add_handle(multi, c->easy);
	}
	t0 = now_s();
	until = t0 + seconds;
	do {
		CURLMsg *m;
		int left;

		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &left)) != NULL) {
			client *c;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					(char **)&c);
			curl_multi_remove_handle(multi, c->easy);
			done(c, m->data.result);
			if (now_s() < until) {
				start(c);
				curl_multi_add_handle(multi, c->easy);
			}
		}
		curl_multi_perform(multi, &running);
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	} while (running > 0);
	seconds = now_s() - t0;
	for (i = 0; i < n_clients; i++)
		if (clients[i].requests == 0)
			idle++;
	printf("requests=%lu puts=%lu gets=%lu failed=%lu wrong=%lu "
			"idle_clients=%d seconds=%.1f rps=%.0f\n", n_req, n_put,
			n_get, n_failed, n_wrong, idle, seconds,
			(double)n_req / seconds);
	for (i = 0; i < n_clients; i++) {
		curl_easy_cleanup(clients[i].easy);
		curl_slist_free_all(clients[i].headers);
		EVP_MD_CTX_free(clients[i].md);
		free(clients[i].data);
	}
	free(clients);
	free(blobs);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return n_failed == 0 && n_wrong == 0 && idle == 0 && n_req > 0 ? 0 : 1;
}
