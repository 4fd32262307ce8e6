/*
 * test_digest.c — SHA-1, HMAC-SHA1 and base64 against published vectors
 * (FIPS 180 examples, RFC 2202, RFC 4648) and against Python's hashlib for
 * the padding's edge lengths and a ZooKeeper digest identity.
 */
#include <stdlib.h>

#include "digest.h"
#include "test.h"

static const char *sha1_hex(const void *data, size_t len)
{
    static char hex[2 * SHA1_SIZE + 1];
    uint8_t d[SHA1_SIZE];
    sha1(data, len, d);
    hex_encode(d, SHA1_SIZE, hex, sizeof hex);
    return hex;
}

TEST(sha1_published_vectors)
{
    CHECK_STR(sha1_hex("", 0), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK_STR(sha1_hex("abc", 3), "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_STR(sha1_hex(two, strlen(two)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    char *million = malloc(1000000);
    CHECK(million);
    memset(million, 'a', 1000000);
    const char *h = sha1_hex(million, 1000000);
    free(million);
    CHECK_STR(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* 55 bytes: the padding fits the block; 56: it takes a second one; 64: a
 * full block and a block of padding; 119: a block and a tail needing two. */
TEST(sha1_padding_edges)
{
    char a[128];
    memset(a, 'a', sizeof a);
    CHECK_STR(sha1_hex(a, 55), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    CHECK_STR(sha1_hex(a, 56), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
    CHECK_STR(sha1_hex(a, 64), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    CHECK_STR(sha1_hex(a, 119), "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56");
}

static const char *hmac_hex(const void *key, size_t kn, const char *msg)
{
    static char hex[2 * SHA1_SIZE + 1];
    uint8_t d[SHA1_SIZE];
    hmac_sha1(key, kn, msg, strlen(msg), d);
    hex_encode(d, SHA1_SIZE, hex, sizeof hex);
    return hex;
}

TEST(hmac_sha1_rfc2202)
{
    uint8_t k1[20], k6[80], k70[70];
    memset(k1, 0x0b, sizeof k1);
    memset(k6, 0xaa, sizeof k6);
    memset(k70, 'k', sizeof k70);
    CHECK_STR(hmac_hex(k1, sizeof k1, "Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00");
    CHECK_STR(hmac_hex("Jefe", 4, "what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    CHECK_STR(hmac_hex(k6, sizeof k6, "Test Using Larger Than Block-Size Key - Hash Key First"),
              "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    CHECK_STR(hmac_hex(k70, sizeof k70, "worker.w1"), "76724f0ec6d78c38e03d572eaf52c39fb7e55b1d");
}

TEST(base64_rfc4648)
{
    static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    char buf[16];
    for (int i = 0; i < 7; i++) {
        CHECK_INT(base64_encode((const uint8_t *)in[i], strlen(in[i]), buf, sizeof buf), strlen(out[i]));
        CHECK_STR(buf, out[i]);
    }
    CHECK_INT(base64_encode((const uint8_t *)"foobar", 6, buf, 8), -1); /* 8 + the NUL do not fit */
}

/* ZooKeeper's DigestAuthenticationProvider: "user:" + base64(sha1("user:password")). */
TEST(zookeeper_digest)
{
    uint8_t d[SHA1_SIZE];
    char b64[32];
    sha1("orchestrator:secret", 19, d);
    base64_encode(d, SHA1_SIZE, b64, sizeof b64);
    CHECK_STR(b64, "/ZMxz6+WU5YjGMSxhQMjaPLlRQk=");
}

TEST(equal_compares_whole_secrets)
{
    CHECK(digest_equal("token", 5, "token", 5));
    CHECK(!digest_equal("token", 5, "tokex", 5));
    CHECK(!digest_equal("token", 5, "toke", 4));      /* a prefix is not the secret */
    CHECK(!digest_equal("token", 5, "token2", 6));    /* nor is a longer one */
    CHECK(!digest_equal("token", 5, "", 0));
    CHECK(digest_equal("", 0, "", 0));
}

int main(void)
{
    RUN(sha1_published_vectors);
    RUN(equal_compares_whole_secrets);
    RUN(sha1_padding_edges);
    RUN(hmac_sha1_rfc2202);
    RUN(base64_rfc4648);
    RUN(zookeeper_digest);
    return test_done();
}
