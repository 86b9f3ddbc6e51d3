package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

func TestAllowsEveryReview(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE",` +
		`"object":{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance","metadata":{"name":"x"}}}}`
	for _, path := range []string{"/mutate", "/validate", "/anything"} {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out admissionv1.AdmissionReview
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || out.Kind != "AdmissionReview" || out.APIVersion != "admission.k8s.io/v1" ||
			out.Response == nil || !out.Response.Allowed || out.Response.UID != "u-1" || out.Response.Patch != nil {
			t.Errorf("%s: status %d, review %+v", path, resp.StatusCode, out)
		}
	}
}

func TestRejectsGarbage(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, body := range []string{"{", `{"kind":"AdmissionReview"}`} {
		resp, err := http.Post(srv.URL+"/validate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", body, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}
