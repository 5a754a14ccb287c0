package fleet

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// genMembers returns n members shaped like Clerk's: random 27-character
// user ids, millisecond timestamps, some optional fields missing, public
// and membership metadata objects, mostly one role. The same n and seed
// give the same members.
func genMembers(n int, seed uint64) []directory.Member {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	firsts := []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan", "Zoë", "Priya", "Wei", "Olu", "Sofía"}
	lasts := []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Turing", "Okafor", "Chen", "García"}
	depts := []string{"Engineering", "Sales", "Marketing", "Support", "Finance", "Legal", "People"}
	teams := []string{"core", "growth", "platform", "billing", "mobile"}
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	id := func(prefix string) string {
		var b strings.Builder
		b.WriteString(prefix)
		for range 27 {
			b.WriteByte(alnum[r.IntN(len(alnum))])
		}
		return b.String()
	}
	ms := func(base time.Time, span time.Duration) time.Time {
		return base.Add(time.Duration(r.Int64N(int64(span/time.Millisecond))) * time.Millisecond).UTC()
	}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	maybe := func(p float64, v string) *string {
		if r.Float64() < p {
			return nil
		}
		return &v
	}
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]directory.Member, n)
	for i := range out {
		first, last := pick(firsts), pick(lasts)
		created := ms(base, 4*365*24*time.Hour)
		joined := ms(created, 200*24*time.Hour)
		var signIn *time.Time
		if r.IntN(7) != 0 {
			t := ms(joined, 300*24*time.Hour)
			signIn = &t
		}
		public, _ := json.Marshal(map[string]any{"department": pick(depts), "vnum": r.IntN(1000)})
		membership := json.RawMessage(`{}`)
		if r.IntN(3) == 0 {
			membership, _ = json.Marshal(map[string]any{"team": pick(teams)})
		}
		role := "org:member"
		if r.IntN(20) == 0 {
			role = "org:admin"
		}
		out[i] = directory.Member{
			UserID:              id("user_"),
			Email:               maybe(0.03, strings.ToLower(first+"."+last)+fmt.Sprint(i)+"@example.com"),
			FirstName:           maybe(0.1, first),
			LastName:            maybe(0.1, last),
			Username:            maybe(0.5, strings.ToLower(first)+fmt.Sprint(i)),
			ImageURL:            maybe(0.2, "https://img.clerk.com/"+id("")),
			LastSignInAt:        signIn,
			LastActiveAt:        signIn,
			CreatedAt:           created,
			Banned:              r.IntN(100) == 0,
			PublicMetadata:      public,
			Role:                role,
			RoleName:            strings.ToUpper(role[4:5]) + role[5:],
			MembershipMetadata:  membership,
			JoinedAt:            joined,
			UserUpdatedAt:       ms(joined, 100*24*time.Hour),
			MembershipUpdatedAt: joined,
		}
	}
	return out
}
