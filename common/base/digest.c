/*
 * digest.c — see digest.h. How it works:
 *
 * SHA-1 (FIPS 180-4, 6.1): the message is padded with a 1 bit, zeros, and
 * its length in bits as a 64-bit big-endian number, to a multiple of 64
 * bytes; each 64-byte block is expanded to 80 words and mixed into the five
 * words of state in 80 rounds of four kinds. Inputs here are short (an
 * identity, a worker id), so the whole message is hashed in one call: full
 * blocks straight from the input, the tail and the padding from a small
 * buffer.
 *
 * HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), K being the key
 * zero-padded to the block size (hashed first if it is longer).
 */
#include "digest.h"

#include <string.h>

#define BLOCK 64

static uint32_t rol(uint32_t x, int k) { return x << k | x >> (32 - k); }

static void compress(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = b ^ c ^ d; k = 0xca62c1d6; }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* SHA-1 of the concatenation of two pieces (HMAC hashes a key block and a
 * message together without copying them into one buffer). */
static void sha1_two(const uint8_t *x, size_t nx, const uint8_t *y, size_t ny, uint8_t out[SHA1_SIZE])
{
    uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
    uint8_t buf[2 * BLOCK];
    size_t fill = 0;
    const uint8_t *parts[2] = { x, y };
    size_t lens[2] = { nx, ny };
    for (int k = 0; k < 2; k++) {
        const uint8_t *p = parts[k];
        size_t n = lens[k];
        while (n > 0) {
            if (fill == 0 && n >= BLOCK) {
                compress(h, p);
                p += BLOCK;
                n -= BLOCK;
                continue;
            }
            size_t take = BLOCK - fill < n ? BLOCK - fill : n;
            memcpy(buf + fill, p, take);
            fill += take;
            p += take;
            n -= take;
            if (fill == BLOCK) {
                compress(h, buf);
                fill = 0;
            }
        }
    }
    uint64_t bits = ((uint64_t)nx + ny) * 8;
    buf[fill++] = 0x80;
    size_t end = fill <= BLOCK - 8 ? BLOCK : 2 * BLOCK;
    memset(buf + fill, 0, end - fill);
    for (int i = 0; i < 8; i++) buf[end - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(h, buf);
    if (end == 2 * BLOCK) compress(h, buf + BLOCK);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

void sha1(const void *data, size_t len, uint8_t out[SHA1_SIZE])
{
    sha1_two(data, len, NULL, 0, out);
}

void hmac_sha1(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[SHA1_SIZE])
{
    uint8_t k[BLOCK] = { 0 }, pad[BLOCK], inner[SHA1_SIZE];
    if (key_len > BLOCK) sha1(key, key_len, k);
    else if (key_len) memcpy(k, key, key_len);
    for (int i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x36;
    sha1_two(pad, BLOCK, msg, msg_len, inner);
    for (int i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x5c;
    sha1_two(pad, BLOCK, inner, SHA1_SIZE, out);
}

int base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = 4 * ((n + 2) / 3);
    if (cap < need + 1) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = A[v >> 18 & 63];
        out[o++] = A[v >> 12 & 63];
        out[o++] = i + 1 < n ? A[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? A[v & 63] : '=';
    }
    out[o] = '\0';
    return (int)o;
}

int hex_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    static const char H[] = "0123456789abcdef";
    if (cap < 2 * n + 1) return -1;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = H[in[i] >> 4];
        out[2 * i + 1] = H[in[i] & 15];
    }
    out[2 * n] = '\0';
    return (int)(2 * n);
}

int digest_equal(const char *secret, size_t secret_len, const char *sent, size_t sent_len)
{
    volatile unsigned char diff = sent_len != secret_len;
    for (size_t i = 0; i < secret_len; i++)
        diff |= (unsigned char)(secret[i] ^ (i < sent_len ? sent[i] : 0));
    return diff == 0;
}
