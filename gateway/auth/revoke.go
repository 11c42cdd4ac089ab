package auth

import (
	"crypto"
	"slices"
)

// A JWKS answer replaces the issuer's key set, and a key the new set lacks
// must stop verifying at once: for new tokens, because lookups only see the
// new set, and for tokens already in the verified-token cache, because each
// entry points at the key that verified it and a hit checks that key's
// revoked flag (one atomic load, no allocation). Keys that stay in the set
// keep their identity across refreshes (adopt), so a refresh revokes only
// what it removed and leaves the rest of the cache warm.
//
// Staleness needs no flag: an entry verified with a JWKS key expires no
// later than that set's staleAt (see Verifier.verify).

// adopt replaces each of keys that old also holds, unrevoked, by old's copy,
// so that the tokens cached with it stay trusted.
func adopt(keys []*key, old *keySet) []*key {
	if old == nil {
		return keys
	}
	for i, k := range keys {
		for _, o := range old.byKID[k.kid] {
			if !o.revoked.Load() && o.same(k) {
				keys[i] = o
				break
			}
		}
	}
	return keys
}

// revokeMissing revokes old's keys that cur does not hold and returns their
// kids, sorted, for the log.
func revokeMissing(old, cur *keySet) []string {
	if old == nil {
		return nil
	}
	var kids []string
	for kid, ks := range old.byKID {
		for _, o := range ks {
			if !slices.Contains(cur.byKID[kid], o) && !o.revoked.Swap(true) {
				kids = append(kids, kid)
			}
		}
	}
	slices.Sort(kids)
	return kids
}

// same reports whether k and o verify the same tokens: same kid, type, alg
// pin and public key.
func (k *key) same(o *key) bool {
	pub, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.kid == o.kid && k.kind == o.kind && k.alg == o.alg && pub.Equal(o.pub)
}
