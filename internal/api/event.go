package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// DescribeEvent renders e for people, in one line of English. The text is
// made here, where it is shown, from the event's typed fields; it is never
// stored, and nothing parses it.
func DescribeEvent(e *audit.Event) string {
	before, after := e.Before, e.After
	if before == nil {
		before = &audit.Fields{}
	}
	if after == nil {
		after = &audit.Fields{}
	}
	switch e.Kind {
	case audit.KindRestrictionCreated:
		s := describeRestriction(e.Subject, after)
		if after.Force {
			s += " (forced: a prefix that wide needs it)"
		}
		return s
	case audit.KindRestrictionLifted:
		return "lifted; it was to end at " + when(before.End)
	case audit.KindRestrictionExtended:
		if after.Approval == curfew.ApprovalPending && !after.ExtendTo.IsZero() {
			return fmt.Sprintf("asks to move the end from %s to %s; pending: needs approval by an operator other than %s; until then it ends at %s",
				when(before.End), when(after.ExtendTo), after.Asker, when(after.End))
		}
		return fmt.Sprintf("end moved from %s to %s", when(before.End), when(after.End))
	case audit.KindRestrictionApproved, audit.KindRestrictionRejected:
		verb := "approved"
		if e.Kind == audit.KindRestrictionRejected {
			verb = "rejected"
		}
		switch {
		case !after.ExtendTo.IsZero() && e.Kind == audit.KindRestrictionApproved:
			return fmt.Sprintf("extension asked for by %s approved; end moved from %s to %s", after.Asker, when(before.End), when(after.End))
		case !after.ExtendTo.IsZero():
			return fmt.Sprintf("extension to %s asked for by %s rejected; it still ends at %s", when(after.ExtendTo), after.Asker, when(after.End))
		case e.Kind == audit.KindRestrictionRejected:
			return fmt.Sprintf("asked for by %s, rejected; it was never enforced", after.Asker)
		}
		return fmt.Sprintf("asked for by %s, %s; enforced from its start", after.Asker, verb)
	case audit.KindRestrictionApplied:
		return "enforced on " + e.Subject
	case audit.KindRestrictionExpired:
		return "ended; recorded at " + when(after.Expired)
	case audit.KindRestrictionImported:
		return "carried over from the first release: " + describeRestriction(e.Subject, after)
	case audit.KindScheduleAdded:
		s := fmt.Sprintf("schedule %d: %s on %s, %s from %s to %s %s, until %s",
			after.Schedule, after.Mode, e.Subject, after.Days, after.From, after.To, after.Zone, when(after.Until))
		if len(after.Allow) > 0 {
			s += " allowing " + strings.Join(after.Allow, ", ")
		}
		if len(after.Block) > 0 {
			s += " blocking " + strings.Join(after.Block, ", ")
		}
		return s
	case audit.KindScheduleRemoved:
		return fmt.Sprintf("schedule %d of %s removed; no window of it opens again", before.Schedule, e.Subject)
	case audit.KindWindowOpened:
		return fmt.Sprintf("window of schedule %d opened: %s", after.Schedule, describeRestriction(e.Subject, after))
	case audit.KindWindowClosed:
		return "window ended; recorded at " + when(after.Expired)
	case audit.KindRestrictionRepaired, audit.KindDeviceRepaired:
		switch {
		case e.Before == nil:
			return "its row had been deleted behind curfew's back; put back as the log has it"
		case e.After == nil:
			return "its row was never recorded in the log; removed"
		}
		return "its row had been changed behind curfew's back; put back as the log has it"
	case audit.KindDeviceAdded, audit.KindDeviceImported:
		s := describeDevice(e.Subject, after)
		if e.Kind == audit.KindDeviceImported {
			s = "carried over from the first release: " + s
		}
		return s
	case audit.KindDeviceApproved:
		return "approved from the LAN: " + describeDevice(e.Subject, after)
	case audit.KindDeviceSeen:
		s := strings.TrimPrefix(e.Subject, "device:") + " first seen on the LAN"
		if after.RandomMAC {
			s += "; a locally administered (randomised) MAC"
		}
		if len(after.Addrs) > 0 {
			s += " at " + strings.Join(after.Addrs, ", ")
		}
		if after.Hostname != "" {
			s += fmt.Sprintf("; DHCP hostname %q", after.Hostname)
		}
		return s
	case audit.KindDeviceSeenSummary:
		return fmt.Sprintf("%d more new MACs seen on the LAN, or dropped in a flood, not recorded one by one", after.Unaudited)
	case audit.KindPersonAdded:
		return "person " + strings.TrimPrefix(e.Subject, "person:")
	case audit.KindDeviceRemoved:
		return describeDevice(e.Subject, before) + " unregistered"
	case audit.KindPersonRemoved:
		return "person " + strings.TrimPrefix(e.Subject, "person:") + " removed; its devices stay registered without owner"
	case audit.KindGroupAdded:
		return "group " + strings.TrimPrefix(e.Subject, "group:")
	case audit.KindGroupMemberAdded:
		return fmt.Sprintf("group %s member %s added", strings.TrimPrefix(e.Subject, "group:"), after.Member)
	case audit.KindGroupMemberRemoved:
		return fmt.Sprintf("group %s member %s removed", strings.TrimPrefix(e.Subject, "group:"), after.Member)
	case audit.KindTokenCreated:
		s := fmt.Sprintf("token %s with role %s", after.Token, after.Role)
		if after.Name != "" {
			s += ", for the new operator " + after.Name
		}
		return s
	case audit.KindTokenRevoked:
		return fmt.Sprintf("token %s with role %s, created %s, revoked", before.Token, before.Role, when(before.Created))
	case audit.KindOperatorAdded:
		return fmt.Sprintf("operator %s with role %s and a one-time console password", after.Name, after.Role)
	case audit.KindOperatorDisabled:
		return fmt.Sprintf("operator %s (role %s) disabled with its token and sessions", after.Name, after.Role)
	case audit.KindPasswordChanged:
		if after.OneTime {
			return "console password of " + after.Name + " reset to a one-time password"
		}
		return "console password of " + after.Name + " changed by its operator"
	case audit.KindAuthFailed:
		s := fmt.Sprintf("%d failed attempts to authenticate from %s, %s to %s", after.Failures, after.Source, when(after.First), when(after.Last))
		if len(after.Causes) > 0 {
			s += " (" + strings.Join(after.Causes, ", ") + ")"
		}
		if after.Refused > 0 {
			s += fmt.Sprintf("; %d refused while rate-limited", after.Refused)
		}
		return s
	case audit.KindAppealPosted:
		return fmt.Sprintf("appeal %d from %s at %s under restrictions %s: %q", after.Appeal, e.Subject, strings.Join(after.Addrs, ", "), strings.Join(after.Restrictions, ", "), after.Message)
	case audit.KindAppealAnswered:
		return fmt.Sprintf("answer to appeal %d from %s: %q", after.Appeal, e.Subject, after.Answer)
	case audit.KindDriftRepaired:
		return fmt.Sprintf("enforcement was changed behind curfew's back; %d objects repaired", after.Objects)
	case audit.KindDaemonStarted:
		if after.ConfigSHA256 == "" {
			return "daemon started"
		}
		return "daemon started; configuration sha256 " + short(after.ConfigSHA256)
	case audit.KindDaemonStopped:
		return "daemon stopped"
	case audit.KindConfigChanged:
		return fmt.Sprintf("configuration changed: sha256 %s, was %s", short(after.ConfigSHA256), short(before.ConfigSHA256))
	case audit.KindAuditBroken:
		found := "none"
		if after.Checkpoint > 0 {
			found = "one of event " + strconv.FormatInt(after.Checkpoint, 10)
		}
		return fmt.Sprintf("the log was found broken: the latest checkpoint, of event %d, was missing or did not match it (found %s)", before.Checkpoint, found)
	case audit.KindAuditUpgraded:
		return fmt.Sprintf("the first release's log was carried over: %d entries, of which %d verified", after.LegacyEntries, after.LegacyIntact)
	case audit.KindLegacy:
		if e.Legacy == nil {
			return "an entry of the first release"
		}
		return fmt.Sprintf("first release, entry %d: %s: %s", e.Legacy.Seq, e.Legacy.Action, e.Legacy.Detail)
	}
	return string(e.Kind)
}

// eventTarget returns what e acted on, for the Target column.
func eventTarget(e *audit.Event) string {
	switch {
	case e.Restriction != 0:
		return strconv.FormatInt(int64(e.Restriction), 10)
	case e.Subject != "":
		return e.Subject
	case e.After != nil && e.After.Token != "":
		return e.After.Token
	case e.Before != nil && e.Before.Token != "":
		return e.Before.Token
	case e.After != nil && e.After.Name != "":
		return e.After.Name
	case e.After != nil && e.After.Source != "":
		return e.After.Source
	case e.Legacy != nil:
		return e.Legacy.Target
	}
	return ""
}

func describeRestriction(subject string, f *audit.Fields) string {
	s := fmt.Sprintf("%s on %s from %s until %s", f.Mode, subject, when(f.Start), when(f.End))
	if len(f.Allow) > 0 {
		s += " allowing " + strings.Join(f.Allow, ", ")
	}
	if len(f.Block) > 0 {
		s += " blocking " + strings.Join(f.Block, ", ")
	}
	if !f.Lifted.IsZero() {
		s += fmt.Sprintf("; lifted at %s by %s", when(f.Lifted), f.LiftedBy)
	}
	if !f.Expired.IsZero() {
		s += "; expired at " + when(f.Expired)
	}
	return s
}

func describeDevice(subject string, f *audit.Fields) string {
	s := "device " + strings.TrimPrefix(subject, "device:")
	if f.Name != "" {
		s += fmt.Sprintf(" name %q", f.Name)
	}
	if f.Owner != "" {
		s += " owner " + f.Owner
	}
	if len(f.Addrs) > 0 {
		s += " addresses " + strings.Join(f.Addrs, ", ")
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// short abbreviates a hex digest.
func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
