package httpcache

import "time"

// ParseHTTPDate reads an HTTP-date (RFC 9110 §5.6.7) in any of the three
// formats a recipient must accept, exactly as the grammar spells them:
//
//	IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
//	asctime-date  Sun Nov  6 08:49:37 1994
//
// Anything else is invalid: one-digit hours, doubled spaces, dashes in an
// IMF-fixdate, other zones. (time.Parse is laxer: it takes "2:01:18".) For
// Expires, invalid means already expired (RFC 9111 §5.3).
func ParseHTTPDate(b []byte) (time.Time, bool) {
	switch {
	case len(b) == 29 && b[3] == ',':
		return imfFixdate(b)
	case len(b) == 24 && b[3] == ' ':
		return asctime(b)
	}
	return rfc850(b)
}

func imfFixdate(b []byte) (time.Time, bool) {
	if !dayName(b[:3]) || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' || string(b[25:]) != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(b[5:7])
	mon, ok2 := month(b[8:11])
	year, ok3 := digits(b[12:16])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return clock(year, mon, day, b[17:25])
}

func asctime(b []byte) (time.Time, bool) {
	if !dayName(b[:3]) || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
		return time.Time{}, false
	}
	mon, ok1 := month(b[4:7])
	d := b[8:10]
	if d[0] == ' ' {
		d = d[1:]
	}
	day, ok2 := digits(d)
	year, ok3 := digits(b[20:24])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return clock(year, mon, day, b[11:19])
}

func rfc850(b []byte) (time.Time, bool) {
	comma := -1
	for i, c := range b {
		if c == ',' {
			comma = i
			break
		}
	}
	if comma < 0 || !longDayName(b[:comma]) {
		return time.Time{}, false
	}
	r := b[comma:]
	// ", 06-Nov-94 08:49:37 GMT"
	if len(r) != 24 || r[1] != ' ' || r[4] != '-' || r[8] != '-' || r[11] != ' ' || string(r[20:]) != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(r[2:4])
	mon, ok2 := month(r[5:8])
	yy, ok3 := digits(r[9:11])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	// A two-digit year more than 50 years ahead is the most recent past
	// year with those digits (RFC 9110 §5.6.7).
	now := time.Now().UTC().Year()
	year := now - now%100 + yy
	if year > now+50 {
		year -= 100
	}
	return clock(year, mon, day, r[12:20])
}

// clock completes a date with an "hh:mm:ss" time of day, checking every
// field's range (time.Date would normalise 31 Feb into March).
func clock(year int, mon time.Month, day int, hms []byte) (time.Time, bool) {
	if hms[2] != ':' || hms[5] != ':' {
		return time.Time{}, false
	}
	h, ok1 := digits(hms[0:2])
	m, ok2 := digits(hms[3:5])
	s, ok3 := digits(hms[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 59 || day < 1 {
		return time.Time{}, false
	}
	t := time.Date(year, mon, day, h, m, s, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false
	}
	return t, true
}

// digits reads a run of decimal digits, all of it.
func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func month(b []byte) (time.Month, bool) {
	for i, m := range months {
		if string(b) == m {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

func dayName(b []byte) bool {
	switch string(b) {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

func longDayName(b []byte) bool {
	switch string(b) {
	case "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday":
		return true
	}
	return false
}
