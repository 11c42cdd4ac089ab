package chaos

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// budget is every chaos route's end-to-end budget: server.default_timeout.
const budget = 100 * time.Millisecond

// targets are the requests of every load run: each route that has a stale
// value or a declared default, warm and cold.
func targets(t *testing.T, fx *fixture) []Target {
	auth := func(sub string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + fx.token(t, fx.key, kid, sub)}
	}
	post := func(name string, body func(i uint64) string, steps func(*fasthttp.Response) []string, path string) Target {
		return Target{Name: name, Method: "POST", Path: func(uint64) string { return path },
			Body:    func(i uint64) []byte { return []byte(body(i)) },
			Headers: auth(name), Steps: steps, Budget: budget}
	}
	return []Target{
		// Warm products: a stored copy exists (stale_if_error 1h).
		{Name: "products", Path: func(i uint64) string { return fmt.Sprintf("/api/products/%d", i%warmKeys) },
			Headers: auth("products"), Budget: budget},
		// Cold products: never stored, only the route fallback can stand in.
		{Name: "products-cold", Path: func(i uint64) string { return fmt.Sprintf("/api/products/cold-%d", i) },
			Headers: auth("products-cold"), Budget: budget},
		// Uncached route with a fallback.
		{Name: "quotes", Path: func(i uint64) string { return fmt.Sprintf("/api/quotes/%d", i%warmKeys) },
			Headers: auth("quotes"), Budget: budget},
		post("features", func(i uint64) string { return featuresBody(fmt.Sprintf("u%d", i%warmUsers)) }, featureSteps, "/v1/features"),
		post("features-cold", func(i uint64) string { return featuresBody(fmt.Sprintf("cold-%d", i)) }, featureSteps, "/v1/features"),
		post("predict", func(i uint64) string { return predictBody(fmt.Sprintf("u%d", i%warmUsers)) }, predictSteps, "/v1/models/churn/predict"),
		post("predict-cold", func(i uint64) string { return predictBody(fmt.Sprintf("cold-%d", i)) }, predictSteps, "/v1/models/churn/predict"),
	}
}

// rogueTarget sends tokens whose kid the JWKS does not list: each one asks
// for a JWKS refetch (rate-limited), and must be refused inside the budget
// even while the JWKS endpoint hangs.
func rogueTarget(t *testing.T, fx *fixture) Target {
	return Target{Name: "unknown-kid", Path: func(i uint64) string { return fmt.Sprintf("/api/products/%d", i%warmKeys) },
		Headers: map[string]string{"Authorization": "Bearer " + fx.token(t, fx.rogue, "rotated-away", "rogue")},
		Budget:  budget, Expect: []int{fasthttp.StatusUnauthorized},
		Steps: func(resp *fasthttp.Response) []string {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(resp.Body(), &e)
			return []string{"401:" + e.Error.Code}
		}}
}

// featureSteps reports, once per answer, each view's value statuses
// ("profile:DEFAULT") and whether the answer was incomplete
// ("features:incomplete").
func featureSteps(resp *fasthttp.Response) []string {
	var r struct {
		Features []string `json:"features"`
		Results  []struct {
			Statuses []string `json:"statuses"`
		} `json:"results"`
		Incomplete bool `json:"incomplete"`
	}
	if resp.StatusCode() != 200 || json.Unmarshal(resp.Body(), &r) != nil {
		return nil
	}
	var steps []string
	for _, row := range r.Results {
		for j, st := range row.Statuses {
			if j < len(r.Features) {
				view, _, _ := strings.Cut(r.Features[j], ":")
				steps = append(steps, view+":"+st)
			}
		}
	}
	if r.Incomplete {
		steps = append(steps, "features:incomplete")
	}
	slices.Sort(steps)
	return slices.Compact(steps)
}

// predictSteps reports each row's source: predict:cache, predict:model,
// predict:stale or predict:default.
func predictSteps(resp *fasthttp.Response) []string {
	var r struct {
		Predictions []struct {
			Source string `json:"source"`
		} `json:"predictions"`
	}
	if resp.StatusCode() != 200 || json.Unmarshal(resp.Body(), &r) != nil {
		return nil
	}
	var steps []string
	for _, p := range r.Predictions {
		steps = append(steps, "predict:"+p.Source)
	}
	slices.Sort(steps)
	return slices.Compact(steps)
}
