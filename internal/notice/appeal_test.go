package notice_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/notice"
	"github.com/curfew/curfew/internal/sqlite"
)

var (
	operatorCtx = curfew.WithActor(context.Background(), curfew.Actor{Name: "olga", Role: curfew.RoleOperator})
	viewerCtx   = curfew.WithActor(context.Background(), curfew.Actor{Name: "vic", Role: curfew.RoleViewer})
)

// appealFixture is a notice server fed by a real engine over SQLite in
// memory, wired as the daemon wires them: the engine applies its
// snapshots to the server, and the server stores appeals through it.
type appealFixture struct {
	srv   *notice.Server
	eng   *engine.Engine
	calls atomic.Int32 // of the engine's Appeal, through the server
}

func newAppealFixture(t *testing.T, cfg notice.Config) *appealFixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &appealFixture{}
	if cfg.Identify == nil {
		cfg.Identify = identify.Func(neighbors)
	}
	if cfg.PortalURL == "" {
		cfg.PortalURL = "http://notice.test/"
	}
	if cfg.Appeal == nil {
		cfg.Appeal = func(ctx context.Context, req curfew.AppealRequest) (*curfew.Appeal, error) {
			f.calls.Add(1)
			return f.eng.Appeal(ctx, req)
		}
	}
	cfg.Appeals = func(ctx context.Context, af curfew.AppealFilter) ([]*curfew.Appeal, error) {
		return f.eng.ClientAppeals(ctx, af)
	}
	if f.srv, err = notice.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.srv.Close() })
	f.eng, err = engine.New(&engine.Config{
		Store: db, Backends: []enforce.Backend{f.srv}, VerifyInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.eng.Close)
	return f
}

func (f *appealFixture) restrict(t *testing.T, subject string) *curfew.Restriction {
	t.Helper()
	r, err := f.eng.Restrict(operatorCtx, curfew.RestrictRequest{Subject: subject, Reason: "test", For: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *appealFixture) appeals(t *testing.T) []*curfew.Appeal {
	t.Helper()
	as, err := f.eng.Appeals(viewerCtx)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// post sends the form body from remote to h, as a browser posting the
// page's form does (Sec-Fetch-Site: same-origin), with header added.
func post(t *testing.T, h http.Handler, target, remote, body string, header ...string) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest("POST", target, strings.NewReader(body))
	r.RemoteAddr = remote
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Origin", "http://"+r.Host)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			r.Header.Del(header[i])
			continue
		}
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func form(message string) string { return url.Values{"message": {message}}.Encode() }

// TestAppeal follows an appeal from the page of a restricted client to the
// operators and the answer back: the page offers the form, the post is
// stored with the client's device and restriction, the page then shows
// the message and later the answer, markup in both shown as text. Another
// restricted client, known only by its address, sees none of it.
func TestAppeal(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	r := f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()

	_, body := request(t, h, "GET", "http://notice.test/", cutClient)
	wantContains(t, body,
		`<h3 id="ask">Ask the operator</h3>`,
		`<form class="ask" method="post" action="/appeal" aria-labelledby="ask">`,
		`<textarea id="message" name="message" rows="4" maxlength="2000" required></textarea>`,
		"Your message (at most 2000 characters)",
	)
	wantLacks(t, body, "Your messages")

	const msg = "Why am I cut off? <script>alert(1)</script>\nI need my mail & my bank."
	resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form(msg))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?appeal=sent" {
		t.Fatalf("POST /appeal = %d Location %q, want 303 to /?appeal=sent", resp.StatusCode, resp.Header.Get("Location"))
	}
	as := f.appeals(t)
	if len(as) != 1 {
		t.Fatalf("Appeals() = %d appeals, want 1", len(as))
	}
	a := as[0]
	if a.Message != msg || a.From.String() != "device:"+cutMAC.String() || a.Addr.String() != "192.168.50.10" ||
		len(a.Restrictions) != 1 || a.Restrictions[0] != r.ID {
		t.Errorf("stored appeal = %+v, want the message from device %s under restriction %d", a, cutMAC, r.ID)
	}

	_, body = request(t, h, "GET", "http://notice.test/?appeal=sent", cutClient)
	wantContains(t, body,
		`<p class="note ok" role="status">Your message was sent to the operator.`,
		"<h3>Your messages</h3>",
		"Why am I cut off? &lt;script&gt;alert(1)&lt;/script&gt;\nI need my mail &amp; my bank.",
		"No answer yet.",
	)
	wantLacks(t, body, "<script")

	if _, err := f.eng.AnswerAppeal(operatorCtx, a.ID, `<b onclick="x()">Until Friday</b>, see the notice.`); err != nil {
		t.Fatal(err)
	}
	_, body = request(t, h, "GET", "http://notice.test/", cutClient)
	wantContains(t, body,
		"<strong>Answer from the operator</strong>",
		"&lt;b onclick=&#34;x()&#34;&gt;Until Friday&lt;/b&gt;, see the notice.",
	)
	wantLacks(t, body, "<b ", "No answer yet.", "Your message was sent")

	// A client under an ip: restriction appeals as its address and sees
	// only its own messages.
	f.restrict(t, "ip:192.168.50.99")
	_, body = request(t, h, "GET", "http://notice.test/", freeClient)
	wantContains(t, body, `<form class="ask"`)
	wantLacks(t, body, "Why am I cut off", "Until Friday")
	if resp, _ := post(t, h, "http://notice.test/appeal", freeClient, form("And me?")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /appeal from the ip: client = %d, want 303", resp.StatusCode)
	}
	if as := f.appeals(t); len(as) != 2 || as[1].From.String() != "ip:192.168.50.99" {
		t.Errorf("Appeals() = %v, want a second one from ip:192.168.50.99", as)
	}
	_, body = request(t, h, "GET", "http://notice.test/", cutClient)
	wantLacks(t, body, "And me?")
}

// TestAppealOnlyFromRestrictedClients checks that a client that is not
// restricted cannot post: 403 with the page saying it is not restricted,
// and nothing reaches the engine; neither does a post once the
// restriction is lifted.
func TestAppealOnlyFromRestrictedClients(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	r := f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()

	resp, body := post(t, h, "http://notice.test/appeal", freeClient, form("let me in"))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /appeal from an unrestricted client = %d, want 403", resp.StatusCode)
	}
	wantContains(t, body, "<h1>Not restricted</h1>")
	if n := f.calls.Load(); n != 0 {
		t.Errorf("the server passed %d appeals of an unrestricted client on to the engine, want none", n)
	}
	_, body = request(t, h, "GET", "http://notice.test/", freeClient)
	wantLacks(t, body, `<form class="ask"`)

	if _, err := f.eng.Lift(operatorCtx, r.ID, "done"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form("and now?")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /appeal after the lift = %d, want 403", resp.StatusCode)
	}
	if as := f.appeals(t); len(as) != 0 {
		t.Errorf("Appeals() = %v, want none", as)
	}
}

// TestAppealCrossOrigin checks that a page of another site that a
// restricted person opens cannot post an appeal in their name.
func TestAppealCrossOrigin(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()
	for _, tt := range []struct {
		name   string
		header []string
	}{
		{"cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site, other origin", []string{"Sec-Fetch-Site", "same-site"}},
		{"older browser, other origin", []string{"Sec-Fetch-Site", "", "Origin", "http://evil.example"}},
		{"older browser, other port", []string{"Sec-Fetch-Site", "", "Origin", "http://notice.test:8080"}},
	} {
		resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form("forged"), tt.header...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST /appeal = %d, want 403", tt.name, resp.StatusCode)
		}
	}
	if as := f.appeals(t); len(as) != 0 {
		t.Fatalf("Appeals() = %v, want none", as)
	}
	// The page itself, served in place for a redirected site, may post.
	if resp, _ := post(t, h, "http://example.com/appeal", cutClient, form("from the page in place")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /appeal from the page served at another site's address = %d, want 303", resp.StatusCode)
	}
	// So may a client that is not a browser, which sends neither header.
	if resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form("by curl"), "Sec-Fetch-Site", "", "Origin", ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /appeal without Sec-Fetch-Site and Origin = %d, want 303", resp.StatusCode)
	}
}

// TestAppealFormErrors checks what a refused form gets: the notice with
// a line saying what to do, a status saying why, and nothing stored.
func TestAppealFormErrors(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()
	tests := []struct {
		name, body string
		header     []string
		status     int
		say        string
	}{
		{"empty", form(""), nil, 400, "The message was empty"},
		{"blank", form(" \r\n "), nil, 400, "The message was empty"},
		{"no message field", "text=hello", nil, 400, "The message could not be read"},
		{"two message fields", "message=a&message=b", nil, 400, "The message could not be read"},
		{"bad escape", "message=%zz", nil, 400, "The message could not be read"},
		{"control character", form("a\x1b[2Jb"), nil, 400, "The message could not be read"},
		{"too long", form(strings.Repeat("x", curfew.MaxAppealLen+1)), nil, 400, "The message is too long"},
		{"body too large", form(strings.Repeat("x", 40<<10)), nil, 413, "The message is too long"},
		{"json", `{"message":"hi"}`, []string{"Content-Type", "application/json"}, 415, "The message could not be read"},
		{"multipart", "--x\r\n\r\n", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, "The message could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, h, "http://notice.test/appeal", cutClient, tt.body, tt.header...)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			wantContains(t, body, "<h1>Internet access restricted</h1>", `<p class="note" role="status">`+tt.say)
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
	if as := f.appeals(t); len(as) != 0 {
		t.Errorf("Appeals() = %v, want none", as)
	}
	// The longest message is fine.
	if resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form(strings.Repeat("ñ", curfew.MaxAppealLen))); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /appeal of %d characters = %d, want 303", curfew.MaxAppealLen, resp.StatusCode)
	}
}

// TestAppealRateLimit checks that a device may send curfew.AppealLimit
// appeals in an hour; the next gets 429 with its text kept in the form.
func TestAppealRateLimit(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()
	for i := range curfew.AppealLimit {
		if resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form("please")); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("appeal %d = %d, want 303", i+1, resp.StatusCode)
		}
	}
	resp, body := post(t, h, "http://notice.test/appeal", cutClient, form("one more <i>please</i>"))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("appeal %d = %d, want 429", curfew.AppealLimit+1, resp.StatusCode)
	}
	wantContains(t, body, "You have sent as many messages as an hour allows", ">one more &lt;i&gt;please&lt;/i&gt;</textarea>")
	if as := f.appeals(t); len(as) != curfew.AppealLimit {
		t.Errorf("Appeals() = %d appeals, want %d", len(as), curfew.AppealLimit)
	}
	// The page shows the latest five.
	_, body = request(t, h, "GET", "http://notice.test/", cutClient)
	if n := strings.Count(body, `<div class="appeal">`); n != 5 {
		t.Errorf("page shows %d appeals, want 5", n)
	}
}

// TestAppealFailure checks that a failure to store the appeal keeps the
// person's text in the form and is logged, and that one to read the
// appeals leaves the page working.
func TestAppealFailure(t *testing.T) {
	var logs bytes.Buffer
	f := newAppealFixture(t, notice.Config{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Appeal: func(context.Context, curfew.AppealRequest) (*curfew.Appeal, error) {
			return nil, errors.New("database is locked")
		},
	})
	f.restrict(t, "device:"+cutMAC.String())
	resp, body := post(t, f.srv.Handler(), "http://notice.test/appeal", cutClient, form("hello"))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	wantContains(t, body, "The message could not be sent because of a problem on the gateway", ">hello</textarea>")
	wantLacks(t, body, "database is locked")
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("log %q lacks the error", logs.String())
	}
}

// TestAppealSpanish checks the form in Spanish, and that the language
// chosen with the lang parameter survives the post.
func TestAppealSpanish(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()
	_, body := request(t, h, "GET", "http://notice.test/?lang=es", cutClient)
	wantContains(t, body, "Preguntar al operador", `action="/appeal?lang=es"`, "Su mensaje (como máximo 2000 caracteres)", ">Enviar</button>")
	resp, _ := post(t, h, "http://notice.test/appeal?lang=es", cutClient, form("¿Por qué?"))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/?appeal=sent&lang=es" {
		t.Fatalf("POST /appeal?lang=es = %d Location %q, want 303 to /?appeal=sent&lang=es", resp.StatusCode, loc)
	}
	_, body = request(t, h, "GET", "http://notice.test/?appeal=sent&lang=es", cutClient)
	wantContains(t, body, "Su mensaje se ha enviado al operador.", "Sus mensajes", "¿Por qué?", "Todavía sin respuesta.")
	resp, body = post(t, h, "http://notice.test/appeal", cutClient, form(""), "Accept-Language", "es")
	wantContains(t, body, "El mensaje estaba vacío")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("empty appeal in Spanish = %d, want 400", resp.StatusCode)
	}
}

func FuzzReadAppeal(f *testing.F) {
	for _, s := range []string{
		"message=hello", "message=%3Cscript%3E", "message=a&message=b", "message=%zz", "message=a;b", "",
		"message=" + strings.Repeat("%F0%9F%98%80", 600), "lang=es&message=%0D%0Ahi%0D%0A", "message=%C2%9B", "message=%ff",
	} {
		f.Add("application/x-www-form-urlencoded", s)
	}
	f.Add("multipart/form-data; boundary=x", "--x--")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "message=ok")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		msg, err := notice.ReadAppeal(contentType, strings.NewReader(body))
		if err != nil {
			if msg != "" {
				t.Errorf("ReadAppeal(%q, %q) = %q with error %v, want no message", contentType, body, msg, err)
			}
			if status := notice.FormErrorStatus(err); status < 400 || status > 499 {
				t.Errorf("ReadAppeal(%q, %q): error %v has status %d, want 4xx", contentType, body, err, status)
			}
			return
		}
		// Anything accepted is exactly what the form said, cleaned: a
		// message the store and the page take as it is.
		q, qerr := url.ParseQuery(body)
		if qerr != nil || len(q["message"]) != 1 {
			t.Fatalf("ReadAppeal(%q, %q) = %q, but the body is not a form with one message", contentType, body, msg)
		}
		if again, err := curfew.CleanAppealText("message", msg); err != nil || again != msg {
			t.Errorf("ReadAppeal(%q, %q) = %q, which cleans to %q, %v", contentType, body, msg, again, err)
		}
		if want, _ := curfew.CleanAppealText("message", q["message"][0]); want != msg {
			t.Errorf("ReadAppeal(%q, %q) = %q, want %q", contentType, body, msg, want)
		}
		if len(body) > 32<<10 {
			t.Errorf("ReadAppeal accepted a body of %d bytes", len(body))
		}
	})
}

// TestAppealPageShowsTheCurrentRestriction checks that the page shows the
// appeals sent since the client's current restriction began, not those of
// an earlier one.
func TestAppealPageShowsTheCurrentRestriction(t *testing.T) {
	f := newAppealFixture(t, notice.Config{})
	r := f.restrict(t, "device:"+cutMAC.String())
	h := f.srv.Handler()
	if resp, _ := post(t, h, "http://notice.test/appeal", cutClient, form("about the first one")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /appeal = %d, want 303", resp.StatusCode)
	}
	if _, err := f.eng.Lift(operatorCtx, r.ID, "done"); err != nil {
		t.Fatal(err)
	}
	// The next restriction starts at least a millisecond later, the
	// resolution of the stored times.
	if _, ok := waitFor(time.Second, func() bool { return time.Since(f.appeals(t)[0].Created) > time.Millisecond }); !ok {
		t.Fatal("the clock does not move")
	}
	f.restrict(t, "device:"+cutMAC.String())
	_, body := request(t, h, "GET", "http://notice.test/", cutClient)
	wantContains(t, body, `<form class="ask"`)
	wantLacks(t, body, "about the first one", "Your messages")
}
