package router

import "testing"

func BenchmarkMatchParam(b *testing.B) {
	var r Router
	_ = r.Add("GET", "/api/products/{id}", 0)
	_ = r.Add("GET", "/api/products/featured", 1)
	_ = r.Add("POST", "/v1/features", 2)
	_ = r.Add("GET", "/api/users/{uid}/orders/{oid}", 3)
	method, path := []byte("GET"), []byte("/api/users/u1/orders/o42")
	b.ReportAllocs()
	var p Params
	for b.Loop() {
		if i, _, _ := r.Match(method, path, &p); i != 3 {
			b.Fatal("no match")
		}
	}
}
