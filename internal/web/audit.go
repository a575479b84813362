package web

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/curfew/curfew/internal/audit"
)

// readAudit returns the events of the audit log from seq from on, oldest
// first, as the service exports them.
func (con *Console) readAudit(ctx context.Context, from int64) ([]*audit.Event, error) {
	var b bytes.Buffer
	if err := con.svc.ExportAudit(ctx, from, &b); err != nil {
		return nil, err
	}
	var out []*audit.Event
	for line := range bytes.Lines(b.Bytes()) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) == 0 {
			continue
		}
		e, _, err := audit.ParseLine(line)
		if err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// auditRow is one event as the audit view shows it.
type auditRow struct {
	Seq    int64
	At     time.Time
	Actor  string
	Kind   string
	Target string
	Reason string
	Detail string
}

func auditRowOf(e *audit.Event, zone *time.Location) auditRow {
	return auditRow{Seq: e.Seq, At: e.At, Actor: e.Actor, Kind: string(e.Kind), Target: eventTarget(e), Reason: e.Reason, Detail: eventDetail(e, zone)}
}

// eventTarget returns what e acted on: a restriction, a subject, a token
// or an operator, a source address.
func eventTarget(e *audit.Event) string {
	switch {
	case e.Restriction != 0:
		return strconv.FormatInt(int64(e.Restriction), 10)
	case e.Subject != "":
		return e.Subject
	case e.Legacy != nil:
		return e.Legacy.Target
	}
	for _, f := range []*audit.Fields{e.After, e.Before} {
		switch {
		case f == nil:
		case f.Token != "":
			return f.Token
		case f.Name != "":
			return f.Name
		case f.Source != "":
			return f.Source
		}
	}
	return ""
}

// eventDetail renders what e recorded, field by field: "field: value",
// or "field: before → after" for what it changed (a field an event
// leaves zero is one it does not record, so a value only before is shown
// as it was). The fields are the event's typed ones; nothing is parsed
// out of text.
func eventDetail(e *audit.Event, zone *time.Location) string {
	if e.Legacy != nil {
		return e.Legacy.Detail
	}
	empty := reflect.ValueOf(audit.Fields{})
	before, after := empty, empty
	if e.Before != nil {
		before = reflect.ValueOf(*e.Before)
	}
	if e.After != nil {
		after = reflect.ValueOf(*e.After)
	}
	var parts []string
	typ := empty.Type()
	for i := range typ.NumField() {
		b, a := fieldText(before.Field(i), zone), fieldText(after.Field(i), zone)
		name := words(typ.Field(i).Name)
		switch {
		case b == a:
		case b == "":
			parts = append(parts, name+": "+a)
		case a == "":
			parts = append(parts, name+": "+b)
		default:
			parts = append(parts, name+": "+b+" → "+a)
		}
	}
	return strings.Join(parts, "; ")
}

// fieldText writes one field's value; the zero value is "".
func fieldText(v reflect.Value, zone *time.Location) string {
	switch x := v.Interface().(type) {
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.In(zone).Format("2006-01-02 15:04:05 MST")
	case []string:
		return strings.Join(x, ", ")
	case bool:
		if x {
			return "yes"
		}
		return ""
	case int64:
		if x == 0 {
			return ""
		}
		return strconv.FormatInt(x, 10)
	}
	if v.Kind() == reflect.String {
		return v.String()
	}
	return fmt.Sprint(v.Interface())
}

// words turns a Go field name into lower-case words: LiftReason becomes
// "lift reason", ConfigSHA256 "config sha256".
func words(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
