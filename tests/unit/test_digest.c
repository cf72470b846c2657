/*
 * SHA-256 digests: known answers from FIPS 180-4's examples (NIST CSRC
 * "Cryptographic Standards and Guidelines: Examples with Intermediate
 * Values", SHA-256), files, hex.
 */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void assert_digest_hex(const arca_digest *d, const char *hex)
{
	char got[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(got, d);
	assert_string_equal(got, hex);
}

static void test_digest__known_answers(void **state)
{
	static const struct {
		const char *message;
		const char *hex;
	} kat[] = {
		{ "",
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc",
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	arca_digest d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		assert_int_equal(arca_digest_buffer(&d, kat[i].message,
				strlen(kat[i].message)), 0);
		assert_digest_hex(&d, kat[i].hex);
	}
	/* NULL is allowed with a length of 0. */
	assert_int_equal(arca_digest_buffer(&d, NULL, 0), 0);
	assert_digest_hex(&d, kat[0].hex);
}

/* One million repetitions of 'a' (FIPS 180-2, appendix B.3). */
static void test_digest__million_a(void **state)
{
	static const char expected[] =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	const size_t n = 1000000;
	arca_digest d;
	char *a = malloc(n);

	(void)state;
	assert_non_null(a);
	memset(a, 'a', n);
	assert_int_equal(arca_digest_buffer(&d, a, n), 0);
	assert_digest_hex(&d, expected);

	/* The same through the streaming hasher that reads files in 1 MiB
	 * chunks: a file of three million 'a' takes three updates, and must
	 * equal the one-shot digest of the same bytes. */
	{
		char *dir = fixture_tempdir();
		char *path = fixture_path("%s/a.txt", dir);
		const size_t big = 3 * n;
		char *b = malloc(big);
		arca_digest fd, bd;
		uint64_t size = 0;

		assert_non_null(b);
		memset(b, 'a', big);
		fixture_write_file(path, a, n);
		assert_int_equal(arca_digest_file(&fd, &size, path), 0);
		assert_int_equal(size, n);
		assert_digest_hex(&fd, expected);
		fixture_write_file(path, b, big);
		assert_int_equal(arca_digest_file(&fd, &size, path), 0);
		assert_int_equal(size, big);
		assert_int_equal(arca_digest_buffer(&bd, b, big), 0);
		assert_true(arca_digest_equal(&fd, &bd));
		free(b);
		free(path);
		fixture_rmdir(dir);
	}
	free(a);
}

/* xorshift64*: a fixed pseudo-random sequence, so failures repeat. */
static void fill_pseudo_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (unsigned char)((x * 2685821657736338717ULL) >> 56);
	}
}

static void test_digest__file_equals_buffer(void **state)
{
	/* Three 1 MiB reads and a partial one. */
	const size_t n = 3 * 1024 * 1024 + 12345;
	char *dir = fixture_tempdir();
	char *path = fixture_path("%s/data.bin", dir);
	char *empty = fixture_path("%s/empty", dir);
	unsigned char *data = malloc(n);
	arca_digest from_file, from_buffer;
	uint64_t size = 0;

	(void)state;
	assert_non_null(data);
	fill_pseudo_random(data, n, 0x9e3779b97f4a7c15ULL);
	fixture_write_file(path, data, n);

	assert_int_equal(arca_digest_file(&from_file, &size, path), 0);
	assert_int_equal(arca_digest_buffer(&from_buffer, data, n), 0);
	assert_true(arca_digest_equal(&from_file, &from_buffer));
	assert_true(size == n);
	/* size_out may be NULL. */
	assert_int_equal(arca_digest_file(&from_file, NULL, path), 0);
	assert_true(arca_digest_equal(&from_file, &from_buffer));

	/* One flipped bit is a different digest. */
	fixture_flip_byte(path, (long)(n - 1));
	assert_int_equal(arca_digest_file(&from_file, &size, path), 0);
	assert_false(arca_digest_equal(&from_file, &from_buffer));

	fixture_write_file(empty, "", 0);
	assert_int_equal(arca_digest_file(&from_file, &size, empty), 0);
	assert_true(size == 0);
	assert_digest_hex(&from_file,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	free(data);
	free(path);
	free(empty);
	fixture_rmdir(dir);
}

static void test_digest__file_errors(void **state)
{
	char *dir = fixture_tempdir();
	char *missing = fixture_path("%s/no-such-file", dir);
	arca_digest d;

	(void)state;
	assert_int_equal(arca_digest_file(&d, NULL, missing), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), missing));
	assert_int_equal(arca_digest_file(&d, NULL, dir), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), dir));
	free(missing);
	fixture_rmdir(dir);
}

static void test_digest__hex_round_trip(void **state)
{
	static const char abc_hex[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char abc_upper[] =
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
	arca_digest d, e;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int i;

	(void)state;
	assert_int_equal(arca_digest_from_hex(&d, abc_hex), 0);
	assert_int_equal(d.bytes[0], 0xba);
	assert_int_equal(d.bytes[1], 0x78);
	assert_int_equal(d.bytes[31], 0xad);
	arca_digest_to_hex(hex, &d);
	assert_string_equal(hex, abc_hex);

	/* Either case on input; lowercase on output. */
	assert_int_equal(arca_digest_from_hex(&e, abc_upper), 0);
	assert_true(arca_digest_equal(&d, &e));
	arca_digest_to_hex(hex, &e);
	assert_string_equal(hex, abc_hex);

	/* Every byte value survives the trip. */
	for (i = 0; i < 8; i++) {
		int j;

		for (j = 0; j < ARCA_DIGEST_SIZE; j++)
			d.bytes[j] = (unsigned char)(i * ARCA_DIGEST_SIZE + j);
		arca_digest_to_hex(hex, &d);
		assert_int_equal(strlen(hex), ARCA_DIGEST_HEXLEN);
		assert_int_equal(arca_digest_from_hex(&e, hex), 0);
		assert_true(arca_digest_equal(&d, &e));
	}
	d.bytes[31] ^= 1;
	assert_false(arca_digest_equal(&d, &e));
}

static void test_digest__from_hex_rejects(void **state)
{
	static const char good[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	char s[ARCA_DIGEST_HEXLEN + 2];
	arca_digest d;

	(void)state;
	/* 63 characters. */
	memcpy(s, good, ARCA_DIGEST_HEXLEN - 1);
	s[ARCA_DIGEST_HEXLEN - 1] = '\0';
	assert_int_equal(arca_digest_from_hex(&d, s), ARCA_EINVAL);
	/* 65 characters. */
	memcpy(s, good, ARCA_DIGEST_HEXLEN);
	s[ARCA_DIGEST_HEXLEN] = 'a';
	s[ARCA_DIGEST_HEXLEN + 1] = '\0';
	assert_int_equal(arca_digest_from_hex(&d, s), ARCA_EINVAL);
	assert_int_equal(arca_digest_from_hex(&d, ""), ARCA_EINVAL);
	assert_int_equal(arca_digest_from_hex(&d, NULL), ARCA_EINVAL);

	/* Non-hex characters, first and last position, each nibble. */
	memcpy(s, good, sizeof(good));
	s[0] = 'g';
	assert_int_equal(arca_digest_from_hex(&d, s), ARCA_EINVAL);
	memcpy(s, good, sizeof(good));
	s[ARCA_DIGEST_HEXLEN - 1] = 'z';
	assert_int_equal(arca_digest_from_hex(&d, s), ARCA_EINVAL);
	memcpy(s, good, sizeof(good));
	s[10] = ' ';
	assert_int_equal(arca_digest_from_hex(&d, s), ARCA_EINVAL);
	memcpy(s, good, sizeof(good));
	s[11] = '-';
	assert_int_equal(arca_digest_from_hex(&d, s), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "hex"));

	/* The unmodified string is fine. */
	assert_int_equal(arca_digest_from_hex(&d, good), 0);
}

static void test_digest__buf_free(void **state)
{
	arca_buf buf = ARCA_BUF_INIT;

	(void)state;
	arca_buf_free(NULL);
	arca_buf_free(&buf);
	buf.data = malloc(4);
	assert_non_null(buf.data);
	buf.size = 3;
	arca_buf_free(&buf);
	assert_null(buf.data);
	assert_int_equal(buf.size, 0);
}

/* A store handle reuses one hasher: after a large streamed put, a small
 * put hashes only its own bytes. */
static void test_digest__store_hasher_starts_over(void **state)
{
	char *dir = fixture_tempdir();
	char *path = fixture_path("%s/big", dir);
	const size_t n = (5u << 20) / 2;
	char *a = malloc(n);
	arca_store *s = NULL;
	arca_digest d;

	(void)state;
	assert_non_null(a);
	memset(a, 'a', n);
	fixture_write_file(path, a, n);
	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	assert_int_equal(arca_blob_put_file(&d, NULL, s, path), 0);
	assert_int_equal(arca_blob_put(&d, s, "abc", 3), 0);
	assert_digest_hex(&d,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	arca_store_close(s);
	free(a);
	free(path);
	fixture_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest__known_answers),
		cmocka_unit_test(test_digest__million_a),
		cmocka_unit_test(test_digest__store_hasher_starts_over),
		cmocka_unit_test(test_digest__file_equals_buffer),
		cmocka_unit_test(test_digest__file_errors),
		cmocka_unit_test(test_digest__hex_round_trip),
		cmocka_unit_test(test_digest__from_hex_rejects),
		cmocka_unit_test(test_digest__buf_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
