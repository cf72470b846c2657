/*
 * The link setting (arca_options.link, config.yaml `link:`, ARCA_LINK):
 * its words, and where it comes from (config.c). How hits use it is
 * tests/cli/test_link.sh's.
 */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct link_fixture {
	char *dir;
	char *xdg;
} link_fixture;

static int setup(void **state)
{
	link_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = fixture_tempdir();
	f->xdg = fixture_tempdir();
	setenv("XDG_CONFIG_HOME", f->xdg, 1);
	unsetenv("ARCA_LINK");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	link_fixture *f = *state;

	unsetenv("ARCA_LINK");
	unsetenv("XDG_CONFIG_HOME");
	fixture_rmdir(f->dir);
	fixture_rmdir(f->xdg);
	free(f);
	return 0;
}

static void write_config(const char *dir, const char *text)
{
	char *path = fixture_path("%s/config.yaml", dir);

	fixture_write_file(path, text, strlen(text));
	free(path);
}

static void test_link__words(void **state)
{
	static const char *const words[] = {
		"auto", "reflink", "copy", "hardlink", "symlink"
	};
	arca_link_mode m;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(arca_link_mode_parse(&m, words[i]), 0);
		assert_int_equal(m, ARCA_LINK_AUTO + (int)i);
		assert_string_equal(arca_link_mode_name(m), words[i]);
	}
	assert_int_equal(arca_link_mode_parse(&m, "default"), ARCA_EINVAL);
	assert_int_equal(arca_link_mode_parse(&m, "Copy"), ARCA_EINVAL);
	assert_int_equal(arca_link_mode_parse(&m, ""), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "expected auto, reflink, copy"));
	assert_string_equal(arca_link_mode_name(ARCA_LINK_DEFAULT), "default");
	assert_string_equal(arca_link_mode_name((arca_link_mode)42), "?");
}

static void test_link__default_is_auto(void **state)
{
	link_fixture *f = *state;
	arca_options o;

	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.link, ARCA_LINK_AUTO);
	assert_true(o.given & ARCA_OPT_LINK);
}

static void test_link__precedence(void **state)
{
	link_fixture *f = *state;
	arca_options in = ARCA_OPTIONS_INIT, o;

	write_config(f->dir, "link: symlink\n");
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.link, ARCA_LINK_SYMLINK);
	setenv("ARCA_LINK", "hardlink", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.link, ARCA_LINK_HARDLINK);
	/* The caller's value, or the default with its bit. */
	in.link = ARCA_LINK_COPY;
	assert_int_equal(arca_options_resolve(&o, f->dir, &in), 0);
	assert_int_equal(o.link, ARCA_LINK_COPY);
	in.link = ARCA_LINK_AUTO;
	assert_int_equal(arca_options_resolve(&o, f->dir, &in), 0);
	assert_int_equal(o.link, ARCA_LINK_HARDLINK);
	in.given = ARCA_OPT_LINK;
	assert_int_equal(arca_options_resolve(&o, f->dir, &in), 0);
	assert_int_equal(o.link, ARCA_LINK_AUTO);
	/* A version 5 struct has no link: whatever lies there is not read
	 * as one, nor is the bit. */
	in.version = 5;
	in.link = 77;
	in.given = ARCA_OPT_LINK;
	assert_int_equal(arca_options_resolve(&o, f->dir, &in), 0);
	assert_int_equal(o.link, ARCA_LINK_HARDLINK);
	/* A value that is no mode. */
	in.version = ARCA_OPTIONS_VERSION;
	in.link = 77;
	assert_int_equal(arca_options_resolve(&o, f->dir, &in), ARCA_EINVAL);
}

static void test_link__bad_values_named(void **state)
{
	link_fixture *f = *state;
	arca_options o;

	write_config(f->dir, "ttl: 1d\nlink: fast\n");
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "config.yaml:2: link 'fast': "
			"expected auto, reflink, copy, hardlink or symlink"));
	write_config(f->dir, "link: copy\n");
	setenv("ARCA_LINK", "quick", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ARCA_LINK='quick'"));
}

static void test_link__config_set(void **state)
{
	link_fixture *f = *state;
	arca_options o;

	assert_int_equal(arca_config_set(f->dir, "link", "reflink"), 0);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.link, ARCA_LINK_REFLINK);
	assert_int_equal(arca_config_set(f->dir, "link", "sideways"),
			ARCA_EINVAL);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.link, ARCA_LINK_REFLINK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link__words),
		cmocka_unit_test_setup_teardown(test_link__default_is_auto,
				setup, teardown),
		cmocka_unit_test_setup_teardown(test_link__precedence,
				setup, teardown),
		cmocka_unit_test_setup_teardown(test_link__bad_values_named,
				setup, teardown),
		cmocka_unit_test_setup_teardown(test_link__config_set,
				setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
