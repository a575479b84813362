package access

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id parameters of a password hash. They are
// stored with each hash, so raising them later leaves older hashes
// verifiable.
type Argon2Params struct {
	Time    uint32 // passes over the memory
	Memory  uint32 // KiB
	Threads uint8  // lanes
}

// DefaultArgon2 returns the parameters of new password hashes: the
// second recommended option of RFC 9106 (64 MiB, three passes) with two
// lanes, for the two cores of a small gateway. One hash takes a few tenths
// of a second there; the Registry computes at most maxHashing at once, so
// a burst of logins costs at most that many times 64 MiB.
func DefaultArgon2() Argon2Params {
	return Argon2Params{Time: 3, Memory: 64 * 1024, Threads: 2}
}

const (
	saltBytes = 16 // a salt of its own for every password
	keyBytes  = 32

	// MinPasswordLength and MaxPasswordLength bound a console password, in
	// bytes. The one-time passwords curfew makes have 26 characters.
	MinPasswordLength = 12
	MaxPasswordLength = 1024
)

// hashPassword returns the argon2id hash of password with a new random
// salt, in the PHC string form
// $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$KEY (unpadded base64).
func hashPassword(p Argon2Params, password string) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generating a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyBytes)
	return encodePHC(p, salt, key), nil
}

func encodePHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether password matches hash, a PHC string made
// by hashPassword, comparing in constant time.
func checkPassword(hash, password string) (bool, error) {
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

// parsePHC parses a hash made by hashPassword. It refuses parameters far
// beyond any curfew sets, so that an edited database cannot make a login
// allocate gigabytes.
func parsePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, errBadHash
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 64 || threads < 1 || threads > 64 {
		return p, nil, nil, fmt.Errorf("%w: parameters %s out of bounds", errBadHash, parts[3])
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
