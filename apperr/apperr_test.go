package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"example.com/acs/apperr"
)

func TestKinds(t *testing.T) {
	err := fmt.Errorf("activate: %w", apperr.Wrap(apperr.Locked, "too many wrong codes", errors.New("5 failures")))
	if apperr.KindOf(err) != apperr.Locked {
		t.Fatalf("kind %v", apperr.KindOf(err))
	}
	if !errors.Is(err, apperr.Of(apperr.Locked)) || errors.Is(err, apperr.Of(apperr.Expired)) {
		t.Fatal("errors.Is by kind")
	}
	if apperr.KindOf(errors.New("boom")) != apperr.Internal {
		t.Fatal("plain error is not internal")
	}
	f := apperr.Field("pan", "fails the Luhn check")
	if f.Kind != apperr.Invalid || f.Fields["pan"] == "" {
		t.Fatalf("field error %+v", f)
	}
}
