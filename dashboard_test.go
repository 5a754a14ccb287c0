package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/dashboard"
	"github.com/orgusers/orgusers/internal/graphiql/graphiqltest"
)

// dashboardPageSize is the page size of the dashboard's member table.
const dashboardPageSize = 25

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDemoDashboardInBrowser opens the demo's /dashboard in headless Chromium,
// offline (every request the page makes goes to the demo server on
// loopback), and checks what it shows against the same questions asked of
// the API: the role and sign-in counts, the first two pages of members, a
// filter picked from the charts, a bulk role change previewed and then
// applied to one member, and, once the server offers orgUsersChanged, a role
// changed in the emulator reaching the row without a reload. A screenshot
// is written to the test's artifact directory (go test -artifacts keeps it;
// DASHBOARD_SCREENSHOT=/some/file.png writes another copy).
func TestDemoDashboardInBrowser(t *testing.T) {
	ctx, console := graphiqltest.NewBrowser(t) // skips without Chromium, before starting a server
	d := startDemo(t)

	tab := graphiqltest.Page{T: t, Ctx: ctx, Console: console}
	waitJS, do := tab.WaitJS, tab.Do
	query := func(q string, vars map[string]any, out any) {
		t.Helper()
		resp, raw := d.graphql(t, d.tokens.Admin, q, vars)
		if len(resp.Errors) > 0 {
			t.Fatalf("%s: %s", q, raw)
		}
		if err := json.Unmarshal(resp.Data, out); err != nil {
			t.Fatalf("%s: %v: %s", q, err, raw)
		}
	}
	// What the page should show, asked of the API with the admin token the
	// demo page uses.
	type facets struct {
		OrgUsers struct {
			TotalCount int
			Facets     struct{ Roles, SignInStatus []struct{ Value, Count any } }
		}
	}
	facetLine := func(fc []struct{ Value, Count any }) string {
		var parts []string
		for _, f := range fc {
			parts = append(parts, fmt.Sprintf("%v=%v", f.Value, f.Count))
		}
		slices.Sort(parts)
		return strings.Join(parts, ",")
	}
	var all facets
	query(`{ orgUsers(first: 0) { totalCount facets { roles { value count } signInStatus { value count } } } }`, nil, &all)
	type page struct {
		OrgUsers struct {
			TotalCount int
			PageInfo   struct{ EndCursor string }
			Nodes      []struct{ ID, Email, Role string }
		}
	}
	pageQuery := `query($after: String, $filter: OrgUserFilter) { orgUsers(first: 25, after: $after, filter: $filter, orderBy: {field: EMAIL, direction: ASC}) { totalCount pageInfo { endCursor } nodes { id email role } } }`
	var first, second page
	query(pageQuery, nil, &first)
	query(pageQuery, map[string]any{"after": first.OrgUsers.PageInfo.EndCursor}, &second)
	if len(first.OrgUsers.Nodes) != dashboardPageSize || len(second.OrgUsers.Nodes) != dashboardPageSize {
		t.Fatalf("the demo organization has fewer than two pages: %d, %d", len(first.OrgUsers.Nodes), len(second.OrgUsers.Nodes))
	}
	emails := func(p page) string {
		var out []string
		for _, n := range p.OrgUsers.Nodes {
			out = append(out, n.Email)
		}
		return strings.Join(out, "\n")
	}
	const shownEmails = `[...document.querySelectorAll('#rows tr td.email')].map(td => td.textContent).join('\n')`
	const shownRoles = `[...document.querySelectorAll('#chart-roles .bar')].map(b => b.dataset.value + '=' + b.querySelector('.count').textContent).sort().join(',')`
	const shownSignIn = `[...document.querySelectorAll('#chart-signin .bar')].map(b => b.dataset.value + '=' + b.querySelector('.count').textContent).sort().join(',')`
	shownTotal := func(n int) string {
		text := fmt.Sprintf("%d members", n)
		if n == 1 {
			text = "1 member"
		}
		return fmt.Sprintf(`document.getElementById('total').textContent === %s`, jsString(text))
	}

	// The page, its charts and its first page of members.
	do("navigate", chromedp.Navigate(d.url+dashboard.Path))
	waitJS("the role counts", shownRoles+` === `+jsString(facetLine(all.OrgUsers.Facets.Roles)))
	waitJS("the sign-in counts", shownSignIn+` === `+jsString(facetLine(all.OrgUsers.Facets.SignInStatus)))
	waitJS("the first page of members", shownEmails+` === `+jsString(emails(first)))
	waitJS("the total", shownTotal(all.OrgUsers.TotalCount))
	waitJS("the department chart", `document.querySelectorAll('#chart-metadata .bar').length > 1`)
	// Bars are drawn through the CSSOM: the largest role's bar is full.
	waitJS("bar widths", `parseFloat(document.querySelector('#chart-roles .bar .fill').style.width) === 100`)

	// Paging forward and back with the cursors.
	do("next page", chromedp.Click(chromedp.CSS("#next")))
	waitJS("the second page of members", shownEmails+` === `+jsString(emails(second)))
	waitJS("page 2", `document.getElementById('page-info').textContent.startsWith('Page 2 · 26–50 of ')`)
	do("previous page", chromedp.Click(chromedp.CSS("#prev")))
	waitJS("the first page again", shownEmails+` === `+jsString(emails(first))+` && document.getElementById('prev').disabled`)

	// Filter by clicking the charts: org:member, then never signed in.
	filter := map[string]any{"roles": []string{"org:member"}, "signInStatus": "NEVER_SIGNED_IN"}
	var members, never page
	query(pageQuery, map[string]any{"filter": map[string]any{"roles": []string{"org:member"}}}, &members)
	query(pageQuery, map[string]any{"filter": filter}, &never)
	if n := never.OrgUsers.TotalCount; n < 2 || n > 1000 {
		t.Fatalf("%d never-signed-in members: want a bulk target of 2..1000", n)
	}
	do("click the org:member bar", chromedp.Click(chromedp.CSS(`#chart-roles .bar[data-value="org:member"]`)))
	waitJS("the org:member filter", shownTotal(members.OrgUsers.TotalCount)+` && document.getElementById('f-role').value === 'org:member'`)
	do("click the never-signed-in bar", chromedp.Click(chromedp.CSS(`#chart-signin .bar[data-value="NEVER_SIGNED_IN"]`)))
	waitJS("the never-signed-in filter", shownTotal(never.OrgUsers.TotalCount)+` && `+shownEmails+` === `+jsString(emails(never)))

	// A bulk dry run on that filter: the count and every member's outcome,
	// as the API answers the same dry run; nothing is written.
	var dry struct {
		UpdateOrgMemberRoles struct {
			Matched, Succeeded int
			Items              []struct{ UserID, Email, Status string }
		}
	}
	bulkQuery := `mutation($input: UpdateOrgMemberRolesInput!) { updateOrgMemberRoles(input: $input) { matched succeeded items { userId email status } } }`
	query(bulkQuery, map[string]any{"input": map[string]any{"target": map[string]any{"filter": filter, "expectedCount": never.OrgUsers.TotalCount}, "role": clerkemu.RoleViewer, "dryRun": true}}, &dry)
	r := dry.UpdateOrgMemberRoles
	do("type the new role", chromedp.SendKeys(chromedp.CSS("#bulk-role"), clerkemu.RoleViewer))
	do("preview", chromedp.Click(chromedp.CSS("#bulk-preview")))
	waitJS("the dry-run summary", fmt.Sprintf(`document.getElementById('bulk-summary').textContent.startsWith(%s)`,
		jsString(fmt.Sprintf("Dry run: %d matched, %d would change to %s", r.Matched, r.Succeeded, clerkemu.RoleViewer))))
	var items []string
	for _, it := range r.Items[:min(len(r.Items), 200)] { // the page lists the first 200
		items = append(items, it.Email+" "+it.Status)
	}
	waitJS("the dry-run items", `[...document.querySelectorAll('#bulk-rows tr[data-user-id]')].map(tr => tr.querySelector('.email').textContent + ' ' + tr.querySelector('.status').textContent).join('\n') === `+jsString(strings.Join(items, "\n")))
	waitJS("the apply button", fmt.Sprintf(`!document.getElementById('bulk-apply').disabled && document.getElementById('bulk-apply').textContent === %s`, jsString(fmt.Sprintf("Apply to %d members", r.Succeeded))))
	var after page
	query(pageQuery, map[string]any{"filter": filter}, &after)
	if after.OrgUsers.TotalCount != never.OrgUsers.TotalCount {
		t.Fatalf("the dry run wrote: %d members match, %d before", after.OrgUsers.TotalCount, never.OrgUsers.TotalCount)
	}

	// Narrow the filter to one member by searching for their email, preview
	// and apply: the per-member result, and the API sees the new role.
	target := r.Items[0]
	do("search", chromedp.SendKeys(chromedp.CSS("#f-search"), target.Email))
	waitJS("the one member", shownTotal(1)+` && `+shownEmails+` === `+jsString(target.Email))
	do("preview one", chromedp.Click(chromedp.CSS("#bulk-preview")))
	waitJS("the dry run of one", `document.getElementById('bulk-apply').textContent === 'Apply to 1 member'`)
	do("apply", chromedp.Click(chromedp.CSS("#bulk-apply")))
	waitJS("the result", fmt.Sprintf(`document.getElementById('bulk-summary').textContent.startsWith('Done: 1 matched, 1 changed to %s') && document.querySelector('#bulk-rows tr .status').textContent === 'SUCCEEDED'`, clerkemu.RoleViewer))
	if m := d.member(t, target.UserID); m["role"] != clerkemu.RoleViewer {
		t.Fatalf("after apply, %s is %v", target.UserID, m)
	}
	// The member left the filter (no longer org:member): the page reloaded it.
	waitJS("the emptied filter", shownTotal(0))

	// Back to every member.
	do("clear the filters", chromedp.Evaluate[chromedp.Void](`(() => {
		for (const id of ['f-search', 'f-role', 'f-signin']) document.getElementById(id).value = '';
		document.getElementById('filters').requestSubmit();
	})()`))
	waitJS("every member", shownTotal(all.OrgUsers.TotalCount)+` && `+shownEmails+` === `+jsString(emails(first)))

	finish := func() {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		file := filepath.Join(t.ArtifactDir(), "dashboard.png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", file)
		graphiqltest.Screenshot(t, ctx, "DASHBOARD_SCREENSHOT")

		// Offline: every resource the page fetched came from the demo server.
		urls, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[location.href, ...performance.getEntriesByType('resource').map(e => e.name)]`))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range urls {
			if !strings.HasPrefix(u, d.url+"/") && !strings.HasPrefix(u, "data:") {
				t.Errorf("the page fetched %s, outside %s", u, d.url)
			}
		}
		if v := console.CSPViolations(); len(v) > 0 {
			t.Errorf("CSP violations:\n%s", strings.Join(v, "\n"))
		}
		if e := console.Errors(); len(e) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
		}
	}

	// Live: a role changed in "Clerk" reaches the row without a reload.
	// The stream is open.
	waitJS("the live badge", `document.getElementById('live').dataset.state === 'on'`)
	var victim string
	for _, n := range first.OrgUsers.Nodes {
		if n.Role == "org:member" && n.ID != target.UserID {
			victim = n.ID
			break
		}
	}
	if victim == "" {
		t.Fatalf("no org:member on the first page: %+v", first.OrgUsers.Nodes)
	}
	var before facets
	query(`{ orgUsers(first: 0) { totalCount facets { roles { value count } signInStatus { value count } } } }`, nil, &before)
	billing := 0
	for _, f := range before.OrgUsers.Facets.Roles {
		if f.Value == clerkemu.RoleBilling {
			billing = int(f.Count.(float64))
		}
	}
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.dashboardTestMarker = 'not reloaded'`))

	m := regexp.MustCompile(`curl -s -X PATCH (\S+)/organizations/\S+ \\\n\s+-H 'Authorization: Bearer (\S+)'`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no emulator example in the banner:\n%s", d.out.String())
	}
	req, _ := http.NewRequest(http.MethodPatch, m[1]+"/organizations/"+clerkemu.OrgAcme+"/memberships/"+victim,
		strings.NewReader(`{"role":"`+clerkemu.RoleBilling+`"}`))
	req.Header.Set("Authorization", "Bearer "+m[2])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH %s: %d %s", req.URL, resp.StatusCode, raw)
	}
	row := `document.querySelector('#rows tr[data-user-id=` + jsString(victim) + `] td.role')`
	waitJS("the row's new role", row+` && `+row+`.textContent === `+jsString(clerkemu.RoleBilling))
	waitJS("the new role count", fmt.Sprintf(`document.querySelector('#chart-roles .bar[data-value="%s"] .count').textContent === '%d'`, clerkemu.RoleBilling, billing+1))
	waitJS("no reload", `window.dashboardTestMarker === 'not reloaded'`)
	finish()
}
