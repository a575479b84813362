package enforce

import (
	"context"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/curfew"
)

// Multi applies each Snapshot to several backends in order.
type Multi []Backend

var _ Backend = Multi(nil)

// Apply implements [Backend]. It applies s to every backend, even after one
// fails, so one broken enforcer does not leave the others stale, and returns
// the errors joined.
func (m Multi) Apply(ctx context.Context, s *curfew.Snapshot) error {
	var errs []error
	for _, b := range m {
		if err := b.Apply(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%T: %w", b, err))
		}
	}
	return errors.Join(errs...)
}

// Verify calls Verify on every backend that implements [Verifier], in
// order, and returns the repairs summed and the errors joined.
func (m Multi) Verify(ctx context.Context) (int, error) {
	var n int
	var errs []error
	for _, b := range m {
		if v, ok := b.(Verifier); ok {
			r, err := v.Verify(ctx)
			n += r
			if err != nil {
				errs = append(errs, fmt.Errorf("%T: %w", b, err))
			}
		}
	}
	return n, errors.Join(errs...)
}

// Close implements [Backend]. It closes every backend, in reverse order.
func (m Multi) Close() error {
	var errs []error
	for i := len(m) - 1; i >= 0; i-- {
		if err := m[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
