package curfew

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxRequestKeyLen bounds an idempotency key.
const MaxRequestKeyLen = 200

// RequestKey makes a state-changing request idempotent for the operator
// who sends it: a client that cannot tell whether its request arrived (the
// connection dropped, the daemon restarted) sends it again with the same
// key, and the change is made once. The key is the client's own
// (Idempotency-Key); Fingerprint is what the request asked for (the API
// hashes its method, path and body), so that a key reused for another
// request is told apart from a retry.
type RequestKey struct {
	Key         string
	Fingerprint string
}

type requestKeyKey struct{}

// WithRequestKey returns a context carrying k. A change made with that
// context records k in the same transaction, and a second change by the
// same operator with the same key repeats the first one's answer instead
// of changing anything (see KeyedRequest).
func WithRequestKey(ctx context.Context, k RequestKey) context.Context {
	return context.WithValue(ctx, requestKeyKey{}, k)
}

// RequestKeyFrom returns the request key of ctx, if it carries one.
func RequestKeyFrom(ctx context.Context) (RequestKey, bool) {
	k, ok := ctx.Value(requestKeyKey{}).(RequestKey)
	return k, ok && k.Key != ""
}

// CheckRequestKey checks an idempotency key: printable ASCII, without
// spaces, at most MaxRequestKeyLen.
func CheckRequestKey(k string) error {
	if len(k) > MaxRequestKeyLen {
		return fmt.Errorf("%w: idempotency key is %d characters, more than %d", ErrInvalid, len(k), MaxRequestKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return fmt.Errorf("%w: idempotency key %q: only printable ASCII without spaces", ErrInvalid, k)
		}
	}
	return nil
}

// KeyedRequest is the record of a change made with a request key: who
// made it, what it did (its audit entry's action and target) and what the
// request asked for. Stores write it in the transaction of the change.
type KeyedRequest struct {
	Actor       string
	Key         string
	Fingerprint string
	Action      Action
	Target      string // as the change's audit entry names it: a restriction ID, a MAC, a name
	Created     time.Time
}

// Repeats reports whether k, sent with a request for action, is a retry
// of the request kr records. It returns an error wrapping ErrKeyReused if
// the key was used for another request.
func (kr *KeyedRequest) Repeats(k RequestKey, action Action) error {
	if kr.Fingerprint != k.Fingerprint || kr.Action != action {
		return fmt.Errorf("%w: idempotency key %q was used at %s for another request (%s %s); send a new key with each request",
			ErrKeyReused, k.Key, kr.Created.UTC().Format(time.RFC3339), kr.Action, kr.Target)
	}
	return nil
}

// Repeated looks up, with lookup (a store's Request method), whether the
// actor already made the request ctx's key names. It returns nil and no
// error when ctx carries no key or the key is new: the change is to be
// made (and its store records the key). It returns the record of the
// earlier change when the request is a retry of it, whose answer the
// caller repeats without changing anything, and an error wrapping
// ErrKeyReused when the key was used for another request.
func Repeated(ctx context.Context, lookup func(ctx context.Context, actor, key string) (*KeyedRequest, error), actor string, action Action) (*KeyedRequest, error) {
	k, ok := RequestKeyFrom(ctx)
	if !ok {
		return nil, nil
	}
	if err := CheckRequestKey(k.Key); err != nil {
		return nil, err
	}
	kr, err := lookup(ctx, actor, k.Key)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		return nil, nil
	default:
		return nil, fmt.Errorf("looking up the request's idempotency key: %w", err)
	}
	if err := kr.Repeats(k, action); err != nil {
		return nil, err
	}
	return kr, nil
}
