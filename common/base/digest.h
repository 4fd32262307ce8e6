/*
 * digest.h — SHA-1, HMAC-SHA1 and base64: what ZooKeeper's digest
 * identities are made of, and how the orchestrator derives each worker's
 * own ZooKeeper password (common/zk/zk_acl.h).
 *
 * SHA-1 is used here only where the protocol asks for it: ZooKeeper names a
 * digest identity "user:" + base64(sha1("user:password")). It is no longer
 * collision-resistant, which matters to signatures, not to this use (finding
 * a password whose hash matches a given one is a preimage, still out of
 * reach); the passwords are 32 random bytes. HMAC-SHA1 stays a sound keyed
 * function (its security does not rest on collision resistance).
 *
 * Written for this project from FIPS 180-4 and RFC 2104; no dependency on a
 * crypto library (the services link none).
 */
#ifndef RS_DIGEST_H
#define RS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_SIZE 20

void sha1(const void *data, size_t len, uint8_t out[SHA1_SIZE]);

void hmac_sha1(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[SHA1_SIZE]);

/* Standard base64 (RFC 4648, with padding) of n bytes into out, which needs
 * 4 * ((n + 2) / 3) + 1 bytes; the length written, or -1 if cap is short. */
int base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Whether sent (sent_len bytes) equals secret (secret_len bytes), in time
 * that depends on secret_len only: every byte is compared, none stops the
 * loop, so a client cannot learn a token byte by byte from the timing. */
int digest_equal(const char *secret, size_t secret_len, const char *sent, size_t sent_len);

/* Lower-case hex of n bytes into out (2n + 1 bytes); -1 if cap is short. */
int hex_encode(const uint8_t *in, size_t n, char *out, size_t cap);

#endif
