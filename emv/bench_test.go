package emv

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkDecodeAReq reads the sample browser AReq (2.3.1) as the ACS does for every authentication,
// and BenchmarkEncodeARes writes a challenge ARes, which includes reading it back.
//
//	go test -run '^$' -bench 'DecodeAReq|EncodeARes' -benchmem ./emv/
func BenchmarkDecodeAReq(b *testing.B) {
	body, err := os.ReadFile("../testdata/emv/areq-browser-2.3.1.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Decode(body, TypeAReq, Context{}); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkEncodeARes(b *testing.B) {
	m := NewMessage(TypeARes, V231)
	m.Channel, m.Category = BRW, PA
	for k, v := range map[string]string{"threeDSServerTransID": "8a880dc0-d2d2-4067-bcb1-b08d1690b26e",
		"acsTransID": "d7c1ee99-9478-44a6-b1f2-391e29c6b340", "dsTransID": "dfe1e7e8-8bc5-4b5c-9d0b-1d5c0ba8a5b1",
		"acsReferenceNumber": "3DS_LOA_ACS_MUSTER_020200_00001", "dsReferenceNumber": "DS_REF", "acsOperatorID": "ACS-MUSTER",
		"transStatus": "C", "acsChallengeMandated": "N", "acsURL": "https://acs.example/3ds/challenge",
		"messageVersion": "2.3.1"} {
		m.Set(k, v)
	}
	m.Set("authenticationMethod", []string{"02"})
	if _, err := Encode(m); err != nil {
		b.Fatal("the sample ARes does not meet the table: ", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTypeOf reads the sample AReq's messageType, as the AReq endpoint does before decoding it;
// BenchmarkTypeOfUnmarshal is the encoding/json way it replaced.
func BenchmarkTypeOf(b *testing.B) {
	body, err := os.ReadFile("../testdata/emv/areq-browser-2.3.1.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if TypeOf(body) != TypeAReq {
			b.Fatal("not an AReq")
		}
	}
}

func BenchmarkTypeOfUnmarshal(b *testing.B) {
	body, err := os.ReadFile("../testdata/emv/areq-browser-2.3.1.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var head struct {
			Type string `json:"messageType"`
		}
		if json.Unmarshal(body, &head) != nil || head.Type != string(TypeAReq) {
			b.Fatal("not an AReq")
		}
	}
}
