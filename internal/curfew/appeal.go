package curfew

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// An AppealID identifies an appeal.
type AppealID int64

// Limits on appeals: a message or an answer is at most MaxAppealLen
// characters, and one client may send at most AppealLimit appeals in any
// AppealWindow.
const (
	MaxAppealLen = 2000
	AppealLimit  = 5
	AppealWindow = time.Hour
)

// Appeal is a question a restricted person sent the operators from the
// notice page, and the operators' answer, which the page shows them.
type Appeal struct {
	ID AppealID
	// From is who asked: device:MAC, or ip:ADDR for a client the gateway
	// knows only by its address (one under an ip: restriction).
	From         Subject
	Addr         netip.Addr      // the address it was sent from
	Restrictions []RestrictionID // what restricted the client when it asked; sorted
	Message      string
	Created      time.Time // UTC

	Answer     string    // empty until answered
	Answered   time.Time // zero until answered
	AnsweredBy string    // the operator who answered
}

// AppealFilter selects appeals. The zero filter selects every appeal.
type AppealFilter struct {
	From  Subject   // only those of this client; zero: everyone's
	Since time.Time // only those created at or after Since; zero: any time
}

// AppealRequest is what a restricted client's notice page posts.
type AppealRequest struct {
	MAC          net.HardwareAddr // the client's device, when the gateway knows it
	Addr         netip.Addr       // the client's address
	Restrictions []RestrictionID  // what restricts the client now
	Message      string
}

// AppealFrom returns who a client is, for appeals: its device if its MAC is
// known, else its address.
func AppealFrom(mac net.HardwareAddr, addr netip.Addr) Subject {
	if len(mac) == 6 {
		return Subject{Kind: SubjectDevice, MAC: slices.Clone(mac)}
	}
	a := addr.Unmap().WithZone("")
	return Subject{Kind: SubjectIP, Prefix: netip.PrefixFrom(a, a.BitLen())}
}

// Appeal returns the appeal req asks to record at now, with its message
// cleaned by CleanAppealText. A request that names no restriction is
// refused with ErrForbidden: only a restricted client may appeal.
func (req *AppealRequest) Appeal(now time.Time) (*Appeal, error) {
	if !req.Addr.IsValid() {
		return nil, fmt.Errorf("%w: appeal without a client address", ErrInvalid)
	}
	if len(req.Restrictions) == 0 {
		return nil, fmt.Errorf("%w: only a client under a restriction may appeal", ErrForbidden)
	}
	msg, err := CleanAppealText("message", req.Message)
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(req.Restrictions)
	slices.Sort(ids)
	return &Appeal{
		From:         AppealFrom(req.MAC, req.Addr),
		Addr:         req.Addr.Unmap().WithZone(""),
		Restrictions: slices.Compact(ids),
		Message:      msg,
		Created:      now.UTC(),
	}, nil
}

// CleanAppealText returns the message or answer s as it is stored: line
// ends made "\n" and surrounding white space trimmed. It refuses an empty
// text, one longer than MaxAppealLen characters, invalid UTF-8 and control
// characters other than newline and tab (C1 ones included, which some
// terminals obey), naming field in the error.
func CleanAppealText(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: missing %s", ErrInvalid, field)
	}
	if n := utf8.RuneCountInString(s); n > MaxAppealLen {
		return "", fmt.Errorf("%w: %s is %d characters, more than %d", ErrInvalid, field, n, MaxAppealLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", fmt.Errorf("%w: %s contains a control character", ErrInvalid, field)
		}
	}
	return s, nil
}
