package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A Checkpoint is the gateway's signature over the head of its log: the
// sequence number and hash of one event, which covers that event and,
// through the chain, every event before it.
type Checkpoint struct {
	Seq  int64
	Head Hash
	At   time.Time
	Sig  []byte // ed25519 over Message()
}

// checkpointDomain prefixes what a checkpoint signs, so that the signature
// can be mistaken for no other.
const checkpointDomain = "curfew audit checkpoint\n"

// Sign returns the checkpoint of head at at, signed with key.
func Sign(key ed25519.PrivateKey, head Head, at time.Time) (*Checkpoint, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("signing a checkpoint: invalid ed25519 private key")
	}
	if head.Seq < 1 {
		return nil, errors.New("signing a checkpoint: the log is empty")
	}
	c := &Checkpoint{Seq: head.Seq, Head: head.Hash, At: truncate(at)}
	c.Sig = ed25519.Sign(key, c.Message())
	return c, nil
}

func (c *Checkpoint) body() *object {
	var o object
	o.time("at", c.At)
	o.str("head", c.Head.String())
	o.str("kind", kindCheckpoint)
	o.int("seq", c.Seq)
	return &o
}

// Message returns what c's signature covers: checkpointDomain followed by
// the canonical encoding of c without its signature.
func (c *Checkpoint) Message() []byte {
	return c.body().appendTo([]byte(checkpointDomain))
}

// Encode returns the canonical encoding of c, one line of an export.
func (c *Checkpoint) Encode() []byte {
	o := c.body()
	o.str("sig", base64.StdEncoding.EncodeToString(c.Sig))
	return o.appendTo(nil)
}

// ParseCheckpoint decodes a checkpoint's encoding, which must be
// canonical. It does not check the signature (Verify does).
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	e, c, err := parseLine(data)
	switch {
	case err != nil:
		return nil, fmt.Errorf("decoding a checkpoint: %w", err)
	case e != nil:
		return nil, fmt.Errorf("decoding a checkpoint: %s, not a checkpoint", e)
	}
	return c, nil
}

// Verify checks c's signature with pub.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("invalid ed25519 public key")
	}
	if !ed25519.Verify(pub, c.Message(), c.Sig) {
		return fmt.Errorf("checkpoint of event %d: the signature does not verify with the key", c.Seq)
	}
	return nil
}

// GenerateKey returns a new ed25519 key for signing checkpoints.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the audit key: %w", err)
	}
	return key, nil
}

// MarshalPrivateKey returns key as a PEM block of type "PRIVATE KEY"
// (PKCS #8), which openssl reads too.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the audit key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a key written by MarshalPrivateKey.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("want one PEM block of type PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading PKCS #8: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an ed25519 key", k)
	}
	return key, nil
}

// EncodePublicKey returns pub in standard base64, as `curfew audit key`
// prints it.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a key written by EncodePublicKey; white space
// around it is ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: want %d bytes in standard base64", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
