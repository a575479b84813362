package config_test

import (
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/config"
)

// TestTimeZone checks which zone the gateway's local days and clock times
// are read in: the file's timezone, else the machine's own (TZ here), and
// that the notice page follows it unless notice.time_zone says otherwise.
func TestTimeZone(t *testing.T) {
	tests := []struct {
		name, tz, file   string
		want, wantNotice string
	}{
		{"machine's zone by default", "America/New_York", "", "America/New_York", "America/New_York"},
		{"TZ with a leading colon", ":Europe/London", "", "Europe/London", "Europe/London"},
		{"empty TZ is UTC", "", "", "UTC", "UTC"},
		{"the file's zone over the machine's", "America/New_York", "timezone: Europe/London\n", "Europe/London", "Europe/London"},
		{"UTC by name", "America/New_York", "timezone: UTC\n", "UTC", "UTC"},
		{"the machine's Etc/UTC is UTC", "Etc/UTC", "", "UTC", "UTC"},
		{"Zulu is UTC", "America/New_York", "timezone: Zulu\n", "UTC", "UTC"},
		{"the page in another zone", "UTC", "timezone: Europe/London\nnotice: {time_zone: Asia/Tokyo}\n", "Europe/London", "Asia/Tokyo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TZ", tt.tz)
			c, err := config.Parse(strings.NewReader(minimal + tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Location().String(); got != tt.want {
				t.Errorf("Location() = %s, want %s", got, tt.want)
			}
			if got := c.Notice.TimeZone.String(); got != tt.wantNotice {
				t.Errorf("Notice.TimeZone = %s, want %s", got, tt.wantNotice)
			}
		})
	}
}

func TestTimeZoneErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"timezone: Mars/Olympus\n", `timezone: "Mars/Olympus" is not an IANA time zone name such as Europe/Madrid; leave the key out for the gateway's own zone`},
		{"timezone: \"\"\n", `timezone: "" is not an IANA time zone name`},
		{"timezone: /etc/localtime\n", `timezone: "/etc/localtime" is not an IANA time zone name`},
		{"timezone: ../../etc/passwd\n", `timezone: "../../etc/passwd" is not an IANA time zone name`},
		{"timezone: Local\n", `timezone: "Local" is not an IANA time zone name`},
		{"timezone: europe/london\n", `timezone: "europe/london" is not an IANA time zone name`},
		{"timezone: [Europe/London]\n", `timezone (line 7): got a list, want a string`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(minimal + tt.file))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want an error starting %q", tt.file, err, tt.want)
			}
		})
	}
}

// TestLocationOfNoConfig checks that a caller without a file (the CLI run
// without --config) still gets the machine's zone, never nil.
func TestLocationOfNoConfig(t *testing.T) {
	t.Setenv("TZ", "America/New_York")
	var c *config.Config
	if got := c.Location().String(); got != "America/New_York" {
		t.Errorf("(*Config)(nil).Location() = %s, want America/New_York", got)
	}
	if got := (&config.Config{}).Location().String(); got != "America/New_York" {
		t.Errorf("Config{}.Location() = %s, want America/New_York", got)
	}
}
