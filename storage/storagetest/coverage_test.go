package storagetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/identityd/identityd/storage"
)

// TestEverySuiteMethodIsClaimed fails for every exported *storage.Store
// method that no suite claims, so a new method cannot arrive without a
// conformance case. A claim must name a method of the interface its suite
// takes (so the suite can call it) and of the Store, and the Store must
// satisfy every suite's interface.
func TestEverySuiteMethodIsClaimed(t *testing.T) {
	store := reflect.TypeFor[*storage.Store]()
	claimedBy := map[string][]string{}
	for _, c := range claims {
		if !store.Implements(c.store) {
			t.Errorf("%s takes %s, which *storage.Store does not implement", c.suite, c.store)
		}
		for _, m := range c.methods {
			if _, ok := c.store.MethodByName(m); !ok {
				t.Errorf("%s claims %s, which is not a method of %s it takes", c.suite, m, c.store)
			}
			if _, ok := store.MethodByName(m); !ok {
				t.Errorf("%s claims %s, which is not a *storage.Store method", c.suite, m)
			}
			if slices.Contains(claimedBy[m], c.suite) {
				t.Errorf("%s claims %s twice", c.suite, m)
			}
			claimedBy[m] = append(claimedBy[m], c.suite)
		}
		t.Logf("%s claims %d methods", c.suite, len(c.methods))
	}
	var missing []string
	for i := range store.NumMethod() {
		if name := store.Method(i).Name; len(claimedBy[name]) == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d exported Store methods belong to no conformance suite: %s", len(missing), strings.Join(missing, ", "))
	}
	t.Logf("%d exported Store methods, %d claimed", store.NumMethod(), store.NumMethod()-len(missing))
}
