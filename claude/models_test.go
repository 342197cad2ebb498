package claude

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// TestPaginate checks item 58: limit=1 with after_id visits every item
// once and the last page has has_more false; before_id pages backwards.
func TestPaginate(t *testing.T) {
	ids := []string{"e", "d", "c", "b", "a"}
	id := func(s string) string { return s }
	var seen []string
	q := PageQuery{Limit: 1}
	for pages := 0; ; pages++ {
		p, err := Paginate(ids, id, q)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, p.Data...)
		if *p.FirstID != p.Data[0] || *p.LastID != p.Data[len(p.Data)-1] {
			t.Errorf("page ids %v %v for %v", *p.FirstID, *p.LastID, p.Data)
		}
		if !p.HasMore {
			break
		}
		if pages > len(ids) {
			t.Fatal("paging does not end")
		}
		q.AfterID = *p.LastID
	}
	if diff := cmp.Diff(ids, seen); diff != "" {
		t.Errorf("visited (-want +got):\n%s", diff)
	}
	back, err := Paginate(ids, id, PageQuery{Limit: 2, BeforeID: "b"})
	if err != nil || !cmp.Equal(back.Data, []string{"d", "c"}) || !back.HasMore {
		t.Errorf("before_id page %+v %v", back, err)
	}
	empty, _ := Paginate(ids, id, PageQuery{AfterID: "a"})
	if len(empty.Data) != 0 || empty.HasMore || empty.FirstID != nil || empty.LastID != nil {
		t.Errorf("page after the last %+v", empty)
	}
	if b := mustJSON(t, empty); b != `{"data":[],"has_more":false,"first_id":null,"last_id":null}` {
		t.Errorf("empty page JSON %s", b)
	}
	if _, err := Paginate(ids, id, PageQuery{AfterID: "zz"}); !errors.Is(err, core.KindNotFound) {
		t.Errorf("unknown after_id: %v", err)
	}
	for _, bad := range [][3]string{{"0", "", ""}, {"x", "", ""}, {"1001", "", ""}, {"", "a", "b"}} {
		if _, err := ParsePageQuery(bad[0], bad[1], bad[2]); !errors.Is(err, core.KindInvalid) {
			t.Errorf("ParsePageQuery%v accepted", bad)
		}
	}
	if q, err := ParsePageQuery("", "", ""); err != nil || q.Limit != 20 {
		t.Errorf("default limit %+v %v", q, err)
	}
}

// TestNewIDUnique checks the id shapes of items 29, 34 and 60.
func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id := NewID("toolu_")
		if seen[id] || !strings.HasPrefix(id, "toolu_") || len(id) != 30 {
			t.Fatalf("id %q (seen %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestDecodeBatchCreate(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{`{"requests":[]}`, "requests: a batch holds between 1 and 100000 requests, not 0"},
		{`{}`, "requests: Field required"},
		{`{"requests":[{"custom_id":"bad id","params":{}}]}`, "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"},
		{`{"requests":[{"custom_id":"a","params":[]}]}`, "requests.0.params: Input should be a valid dictionary"},
		{`{"requests":[{"custom_id":"a"}]}`, "requests.0.params: Field required"},
		{`{"requests":[{"custom_id":"a","params":{}},{"custom_id":"b","params":{}},{"custom_id":"a","params":{}}]}`,
			"requests.2.custom_id: custom_id 'a' is also used by requests.0; custom_id values must be unique"},
	}
	for _, tt := range tests {
		_, err := DecodeBatchCreate([]byte(tt.body))
		if got := ErrorMessage(err); got != tt.want || !errors.Is(err, core.KindInvalid) {
			t.Errorf("%s: %q, want %q", tt.body, got, tt.want)
		}
	}
	// Invalid params do not fail creation (§9): they fail when run.
	b, err := DecodeBatchCreate([]byte(`{"requests":[{"custom_id":"q-1","params":{"model":"m"}}]}`))
	if err != nil || len(b.Requests) != 1 {
		t.Fatalf("%+v %v", b, err)
	}
	if _, err := DecodeRequest(b.Requests[0].Params, Version20230601); ErrorMessage(err) != "max_tokens: Field required" {
		t.Errorf("params: %v", err)
	}
}
