package directory_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// genMembers returns n realistic members, the same for the same n and seed:
// emails with mixed case and a few missing, names with some nils and
// case-insensitive duplicates, coarse timestamps (so sort keys tie), some
// members who never signed in, and metadata with department, role, vnum,
// location and skills.
func genMembers(n int, seed uint64) []directory.Member {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	firsts := []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances",
		"Alan", "Édouard", "Zoë", "james", "JAMES", "Priya", "Wei", "Olu", "Sofía", "Mateo"}
	lasts := []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
		"Allen", "Turing", "Lucas", "Schmidt", "smith", "Smith", "Okafor", "Chen", "García", "Kowalski"}
	domains := []string{"example.com", "Example.org", "corp.example", "mail.example.net"}
	depts := []string{"Engineering", "Sales", "Marketing", "Support", "Finance", "Legal", "People"}
	titles := []string{"engineer", "manager", "director", "analyst", "designer", "intern"}
	countries := []string{"DE", "US", "FR", "IN", "BR", "JP", "NG"}
	cities := []string{"Berlin", "Austin", "Paris", "Pune", "São Paulo", "Tokyo", "Lagos"}
	skills := []string{"go", "sql", "graphql", "k8s", "excel", "figma", "rust", "python"}
	teams := []string{"core", "growth", "platform", "billing", "mobile"}
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour

	pick := func(s []string) string { return s[r.IntN(len(s))] }
	maybe := func(p float64, v string) *string {
		if r.Float64() < p {
			return nil
		}
		return &v
	}

	out := make([]directory.Member, n)
	for i := range out {
		first, last := pick(firsts), pick(lasts)
		local := strings.ToLower(first) + "." + strings.ToLower(last) + fmt.Sprint(i)
		if r.IntN(5) == 0 {
			local = strings.ToUpper(local[:1]) + local[1:]
		}
		created := base.Add(time.Duration(r.IntN(1500)) * day)
		joined := created.Add(time.Duration(r.IntN(200)) * day)
		var lastSignIn *time.Time
		if r.IntN(7) != 0 {
			t := joined.Add(time.Duration(r.IntN(300*24)) * time.Hour)
			lastSignIn = &t
		}
		var sk []string
		for range r.IntN(4) {
			sk = append(sk, pick(skills))
		}
		public, _ := json.Marshal(map[string]any{
			"department": pick(depts),
			"role":       pick(titles),
			"vnum":       r.IntN(1000),
			"location":   map[string]any{"country": pick(countries), "city": pick(cities)},
			"skills":     sk,
		})
		membership, _ := json.Marshal(map[string]any{"team": pick(teams), "level": 1 + r.IntN(5)})
		role := "org:member"
		switch r.IntN(20) {
		case 0:
			role = "org:admin"
		case 1:
			role = "org:billing"
		}
		out[i] = directory.Member{
			UserID:             fmt.Sprintf("user_%016x", mix(uint64(i)^seed)),
			Email:              maybe(0.03, local+"@"+pick(domains)),
			FirstName:          maybe(0.1, first),
			LastName:           maybe(0.1, last),
			Username:           maybe(0.5, strings.ToLower(first)+fmt.Sprint(i)),
			ImageURL:           maybe(0.2, "https://img.example.com/"+fmt.Sprint(i)+".png"),
			LastSignInAt:       lastSignIn,
			LastActiveAt:       lastSignIn,
			CreatedAt:          created,
			PublicMetadata:     public,
			Role:               role,
			RoleName:           strings.TrimPrefix(role, "org:"),
			MembershipMetadata: membership,
			JoinedAt:           joined,
		}
	}
	return out
}

// mix is a bijection on uint64 (splitmix64's finalizer), so distinct inputs
// give distinct user ids in an order unrelated to load order.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
