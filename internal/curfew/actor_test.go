package curfew_test

import (
	"context"
	"errors"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

func TestPermit(t *testing.T) {
	tests := []struct {
		role curfew.Role
		op   curfew.Op
		want error // nil: permitted
	}{
		{curfew.RoleViewer, curfew.OpRead, nil},
		{curfew.RoleViewer, curfew.OpRestrict, curfew.ErrForbidden},
		{curfew.RoleViewer, curfew.OpLift, curfew.ErrForbidden},
		{curfew.RoleViewer, curfew.OpExtend, curfew.ErrForbidden},
		{curfew.RoleViewer, curfew.OpAddDevice, curfew.ErrForbidden},
		{curfew.RoleViewer, curfew.OpAddPerson, curfew.ErrForbidden},
		{curfew.RoleViewer, curfew.OpApprove, curfew.ErrForbidden},
		{curfew.RoleViewer, curfew.OpReject, curfew.ErrForbidden},
		{curfew.RoleOperator, curfew.OpRestrict, nil},
		{curfew.RoleOperator, curfew.OpApprove, nil},
		{curfew.RoleOperator, curfew.OpReject, nil},
		{curfew.RoleAdmin, curfew.OpApprove, nil},
		{curfew.RoleOperator, curfew.OpAddPerson, nil},
		{curfew.RoleViewer, curfew.OpAnswer, curfew.ErrForbidden},
		{curfew.RoleOperator, curfew.OpAnswer, nil},
		{curfew.RoleOperator, curfew.OpCreateToken, curfew.ErrForbidden},
		{curfew.RoleAdmin, curfew.OpCreateToken, nil},
		{curfew.RoleOperator, curfew.OpAddOperator, curfew.ErrForbidden},
		{curfew.RoleOperator, curfew.OpDisableOperator, curfew.ErrForbidden},
		{curfew.RoleOperator, curfew.OpResetPassword, curfew.ErrForbidden},
		{curfew.RoleOperator, curfew.OpRevokeToken, curfew.ErrForbidden},
		{curfew.RoleAdmin, curfew.OpAddOperator, nil},
		{curfew.RoleAdmin, curfew.OpDisableOperator, nil},
		{curfew.RoleAdmin, curfew.OpResetPassword, nil},
		{curfew.RoleAdmin, curfew.OpRevokeToken, nil},
		{curfew.RoleAdmin, curfew.OpRead, nil},
		{curfew.RoleAdmin, curfew.Op("launch"), curfew.ErrForbidden},
		{curfew.Role("king"), curfew.OpRead, curfew.ErrForbidden},
	}
	for _, tt := range tests {
		ctx := curfew.WithActor(context.Background(), curfew.Actor{Name: "a", Role: tt.role})
		a, err := curfew.Permit(ctx, tt.op)
		if tt.want == nil && (err != nil || a.Name != "a") {
			t.Errorf("Permit(%s, %s) = %v, %v; want the actor", tt.role, tt.op, a, err)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Permit(%s, %s) = %v, want %v", tt.role, tt.op, err, tt.want)
		}
	}
	if _, err := curfew.Permit(context.Background(), curfew.OpRead); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Permit without an actor = %v, want ErrUnauthenticated", err)
	}
}
