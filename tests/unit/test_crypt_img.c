/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_crypt_img.c: encrypted qcow/qcow2 images through the core: writes at odd offsets and
 * lengths (partial sectors and clusters) into images qemu-img created, then qemu-img compare
 * (with the same password) against a raw file given the same writes; compressed writes are
 * refused; without a password source data access fails with -ENOKEY and a clear message; a
 * wrong LUKS password fails with -EACCES and leaves every byte of the file as it was. */
#include "testutil.h"

#include "core/block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PW "hunter2"
/* qemu-img's LUKS benchmark fails when a batch of its PBKDF2 rounds measures 0 ms of thread
 * CPU time ("Unable to get accurate CPU usage"), which a loaded machine makes likely: up to 20
 * tries, a moment apart. */
#define QEMU_CREATE "for i in $(seq 20); do qemu-img create -q "
#define QEMU_CREATE_END " 2>/dev/null && break; sleep 0.2; done"

static int test_secret(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                       struct img_err *err)
{
    const char *pw = ctx;
    *len = strlen(pw);
    memcpy(buf, pw, *len);
    return 0;
}

static const struct {
    uint64_t off;
    size_t len;
} writes[] = {{100, 1000}, {70000, 5}, {1048573, 10}, {2097152, 65536}, {3000001, 131071}};

/* Same writes into the image and a raw reference; qemu-img compares them with the password. */
static void write_and_compare(const char *fmt, const char *opts)
{
    const char *img_path = tu_path(fmt), *raw = tu_path("ref.raw");
    assert_int_equal(tu_sh(QEMU_CREATE "-f %s --object secret,id=s0,data=" PW
                                       " -o %s,encrypt.key-secret=s0 %s 4M" QEMU_CREATE_END
                                       " && rm -f %s && truncate -s 4M %s",
                           fmt, opts, img_path, raw, raw),
                     0);
    img_set_secret_provider(test_secret, PW);
    struct img_err err = {0};
    struct img *img = img_open(img_path, fmt, IMG_OPEN_RW, &err);
    if (!img)
        fail_msg("%s", err.msg);
    int rfd = open(raw, O_RDWR);
    assert_true(rfd >= 0);
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        uint8_t *b = malloc(writes[i].len);
        tu_pattern(b, writes[i].len, writes[i].off, (unsigned)i + 1);
        if (img_write(img, writes[i].off, b, writes[i].len) < 0)
            fail_msg("%s", img_errmsg(img));
        assert_int_equal(pwrite(rfd, b, writes[i].len, (off_t)writes[i].off),
                         (ssize_t)writes[i].len);
        free(b);
    }
    /* Zeroing over written data, partial and whole clusters. */
    uint8_t *z0 = calloc(1, 200000);
    if (img_write_zeroes(img, 1000, 200000) < 0)
        fail_msg("%s", img_errmsg(img));
    assert_int_equal(pwrite(rfd, z0, 200000, 1000), 200000);
    free(z0);
    close(rfd);
    /* Compressed clusters are never written into an encrypted image. */
    uint8_t *z = calloc(1, 65536);
    assert_int_equal(img_write_compressed(img, 0, z, 4096 << (strcmp(fmt, "qcow") ? 4 : 0)),
                     -ENOTSUP);
    free(z);
    img_close(img);
    img_set_secret_provider(NULL, NULL);
    assert_int_equal(tu_sh("qemu-img compare -q --object secret,id=s0,data=" PW
                           " --image-opts driver=raw,file.filename=%s "
                           "driver=%s,file.filename=%s,encrypt.key-secret=s0",
                           raw, fmt, img_path),
                     0);
    /* A wrong password: a different content (legacy AES cannot tell), or no access (LUKS). */
    assert_int_not_equal(tu_sh("qemu-img compare -q --object secret,id=s0,data=wrong"
                               " --image-opts driver=raw,file.filename=%s "
                               "driver=%s,file.filename=%s,encrypt.key-secret=s0 2>/dev/null",
                               raw, fmt, img_path),
                         0);
}

static void test_qcow2_aes_writes(void **state)
{
    write_and_compare("qcow2", "encrypt.format=aes");
}

static void test_qcow_aes_writes(void **state)
{
    write_and_compare("qcow", "encrypt.format=aes");
}

static void test_qcow2_luks_xts_writes(void **state)
{
    write_and_compare("qcow2", "encrypt.format=luks,encrypt.iter-time=100");
}

static void test_qcow2_luks_cbc_essiv_writes(void **state)
{
    write_and_compare("qcow2", "encrypt.format=luks,encrypt.iter-time=100,encrypt.cipher-mode=cbc,"
                               "encrypt.ivgen-alg=essiv,encrypt.cipher-alg=aes-128");
}

/* A 1 MiB qcow2 qemu-img encrypts with PW (-o opts), its first 64 KiB written by qemu-io. */
static void qemu_image_64k(const char *p, const char *opts)
{
    assert_int_equal(tu_sh(QEMU_CREATE "-f qcow2 --object secret,id=s0,data=" PW
                                       " -o %s,encrypt.key-secret=s0 %s 1M" QEMU_CREATE_END
                                       " && qemu-io --object "
                                       "secret,id=s0,data=" PW " --image-opts "
                                       "driver=qcow2,file.filename=%s,encrypt.key-secret=s0 "
                                       "-c 'write 0 64k' >/dev/null",
                           opts, p, p),
                     0);
}

static void test_luks_wrong_password(void **state)
{
    const char *p = tu_path("wrong.qcow2");
    qemu_image_64k(p, "encrypt.format=luks,encrypt.iter-time=100");
    size_t n0, n1;
    void *before = tu_read_file(p, &n0);
    img_set_secret_provider(test_secret, "not the password");
    struct img_err err = {0};
    struct img *img = img_open(p, NULL, IMG_OPEN_RW, &err);
    if (!img)
        fail_msg("%s", err.msg);
    uint8_t b[4096] = {1};
    assert_int_equal(img_write(img, 100000, b, sizeof b), -EACCES);
    assert_non_null(strstr(img_errmsg(img), "invalid password"));
    assert_int_equal(img_write_zeroes(img, 0, 65536), -EACCES);
    assert_int_equal(img_read(img, 0, b, sizeof b), -EACCES);
    img_close(img);
    img_set_secret_provider(NULL, NULL);
    void *after = tu_read_file(p, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
}

static void test_no_password(void **state)
{
    const char *p = tu_path("nopw.qcow2");
    qemu_image_64k(p, "encrypt.format=aes");
    img_set_secret_provider(NULL, NULL);
    struct img_err err = {0};
    struct img *img = img_open(p, NULL, IMG_OPEN_RW, &err);
    if (!img)
        fail_msg("%s", err.msg);
    struct img_info info;
    memset(&info, 0, sizeof info);
    assert_int_equal(img_get_info(img, &info), 0); /* info needs no password */
    assert_true(info.encrypted);
    uint8_t b[512];
    assert_int_equal(img_read(img, 0, b, sizeof b), -ENOKEY);
    assert_non_null(strstr(img_errmsg(img), "no password was given"));
    assert_int_equal(img_write(img, 0, b, sizeof b), -ENOKEY);
    img_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qcow2_aes_writes),
        cmocka_unit_test(test_qcow_aes_writes),
        cmocka_unit_test(test_qcow2_luks_xts_writes),
        cmocka_unit_test(test_qcow2_luks_cbc_essiv_writes),
        cmocka_unit_test(test_luks_wrong_password),
        cmocka_unit_test(test_no_password),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
