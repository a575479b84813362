//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/lab"
)

// postAppeal posts the notice page's form with message from c to the
// notice server at target, as the page's own form does (the browser says
// Sec-Fetch-Site: same-origin) unless header says otherwise, and follows
// no redirect.
func postAppeal(t *testing.T, c *lab.Client, target, message string, header http.Header) response {
	t.Helper()
	body := url.Values{"message": {message}}.Encode()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	hc := &http.Client{
		Timeout:       probeTimeout,
		Transport:     &http.Transport{DialContext: c.Dial, DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return response{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// appeals returns `curfew appeals -o json`, raw and decoded.
func (g *gateway) appeals() (string, []api.Appeal) {
	g.t.Helper()
	out := g.mustCurfew("appeals", "-o", "json")
	var as []api.Appeal
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		g.t.Fatalf("decoding curfew appeals -o json: %v in %q", err, out)
	}
	return out, as
}

// TestAppeal checks the restricted person's question to the operators: a
// restricted client's post from the notice page shows in `curfew appeals`
// with its device and restriction; an unrestricted client's post, and one
// from another site's page, are refused with 403; the answer given with
// `curfew appeal answer` shows on the restricted client's page, over IPv4
// and IPv6 and on a redirected site, without a restart; markup in the
// message and the answer is shown as text, in the page and in the CLI.
func TestAppeal(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	online(t, c1, c2)
	r := g.restrictWith(device(c1))

	const (
		message = "<script>alert(1)</script> When does this end? I need my bank & my mail."
		answer  = `<b onclick="x()">On Friday</b>, when the review is over.`
	)
	for _, u := range []string{noticeURL(lab.LANV4, "/"), outsideURLs[0]} {
		if p := get(t, c1, u); p.err != nil || !strings.Contains(p.body, `<form class="ask" method="post" action="/appeal"`) {
			t.Errorf("client 1 (restricted): GET %s = %s, want the page with the form to ask the operator", u, p)
		}
	}

	p := postAppeal(t, c1, noticeURL(lab.LANV4, "/appeal"), message, nil)
	if p.err != nil || p.status != http.StatusSeeOther || p.header.Get("Location") != "/?appeal=sent" {
		t.Fatalf("client 1 (restricted): POST /appeal = %s, Location %q; want 303 to /?appeal=sent", p, p.header.Get("Location"))
	}
	raw, as := g.appeals()
	if len(as) != 1 {
		t.Fatalf("curfew appeals -o json = %d appeals, want 1: %s", len(as), raw)
	}
	a := as[0]
	if a.Message != message || a.Device != device(c1) || len(a.RestrictionIDs) != 1 || a.RestrictionIDs[0] != r.ID ||
		a.Addr != c1.V4.String() || a.Answer != "" || a.AnsweredAt != nil || a.CreatedAt.IsZero() {
		t.Errorf("curfew appeals -o json = %+v, want the message from %s (%s) under restriction %d, unanswered", a, device(c1), c1.V4, r.ID)
	}
	if strings.Contains(raw, "<script>") {
		t.Errorf("curfew appeals -o json carries the markup unescaped: %s", raw)
	}
	if out := g.mustCurfew("appeals"); !strings.Contains(out, "message:       "+message) || !strings.Contains(out, device(c1)) {
		t.Errorf("curfew appeals does not show the message as text:\n%s", out)
	}

	// Refused: a client that is not restricted, and a post from another
	// site's page in the restricted person's browser.
	if p := postAppeal(t, c2, noticeURL(lab.LANV4, "/appeal"), "let me post too", nil); p.err != nil || p.status != http.StatusForbidden {
		t.Errorf("client 2 (free): POST /appeal = %s, want 403", p)
	}
	forged := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://" + lab.NewsName}}
	if p := postAppeal(t, c1, noticeURL(lab.LANV4, "/appeal"), "forged", forged); p.err != nil || p.status != http.StatusForbidden {
		t.Errorf("client 1 (restricted): cross-site POST /appeal = %s, want 403", p)
	}
	if _, as := g.appeals(); len(as) != 1 {
		t.Errorf("curfew appeals after the refused posts = %d appeals, want 1", len(as))
	}

	// The page shows the message, as text, until the answer comes.
	p = get(t, c1, noticeURL(lab.LANV4, "/?appeal=sent"))
	for _, want := range []string{"Your message was sent to the operator.", "&lt;script&gt;alert(1)&lt;/script&gt; When does this end?", "No answer yet."} {
		if !strings.Contains(p.body, want) {
			t.Errorf("client 1 (restricted): the page after the post does not say %q", want)
		}
	}
	if strings.Contains(p.body, "<script") {
		t.Errorf("client 1 (restricted): the page carries the message's markup as markup")
	}

	out := g.mustCurfew("appeal", "answer", itoa(a.ID), "--text", answer)
	if !strings.Contains(out, "appeal "+itoa(a.ID)+" answered") {
		t.Errorf("curfew appeal answer printed %q", out)
	}
	escaped := "&lt;b onclick=&#34;x()&#34;&gt;On Friday&lt;/b&gt;, when the review is over."
	for _, u := range []string{noticeURL(lab.LANV4, "/"), noticeURL(lab.LANV6, "/"), outsideURLs[1]} {
		p := get(t, c1, u)
		if p.err != nil || !strings.Contains(p.body, "Answer from the operator") || !strings.Contains(p.body, escaped) {
			t.Errorf("client 1 (restricted): GET %s = %s, want the page with the answer %q", u, p, escaped)
		}
		if strings.Contains(p.body, "<b onclick") || strings.Contains(p.body, "<script") {
			t.Errorf("client 1 (restricted): GET %s carries markup of the message or the answer as markup", u)
		}
	}
	if p := get(t, c2, noticeURL(lab.LANV4, "/")); strings.Contains(p.body, "On Friday") || strings.Contains(p.body, "When does this end") {
		t.Errorf("client 2 (free): the page shows client 1's appeal")
	}
	if _, as := g.appeals(); len(as) != 1 || as[0].Answer != answer || as[0].AnsweredAt == nil || as[0].AnsweredBy == "" {
		t.Errorf("curfew appeals -o json after the answer = %+v", as)
	}
	audit := g.mustCurfew("audit")
	if !strings.Contains(audit, device(c1)+"  appeal.posted") || !strings.Contains(audit, "appeal.answered") {
		t.Errorf("curfew audit lacks the appeal or its answer:\n%s", audit)
	}
	if _, errOut, code := g.curfew("appeal", "answer", "99", "--text", "x"); code != 2 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("curfew appeal answer 99 = exit %d %q, want 2 and one line", code, errOut)
	}
}
