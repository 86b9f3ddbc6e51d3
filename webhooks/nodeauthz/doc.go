// Package nodeauthz is the kube-apiserver authorization webhook that
// confines a node agent's reads of Pods to its own node. RBAC cannot: it
// grants list and watch of pods for every node or none. Admission cannot
// either: reads pass no admission. An authorizer in the structured
// authorization configuration (--authorization-config) sees, since
// AuthorizeWithSelectors, the field selector of every list and watch, so it
// can tell "Pods on node A" from "all Pods".
//
// Decide is the whole policy, a pure function of a SubjectAccessReview:
//
//   - a node agent (user system:podvirt:nodeagent:<node>; or the service
//     account podvirt-system/podvirt-nodeagent with the extra
//     authentication.kubernetes.io/node-name: [<node>]; or any member of
//     the group podvirt:nodeagents) on core pods:
//   - whose identity names no node: Deny;
//   - list or watch: Deny unless the field selector requires
//     spec.nodeName=<node> (further requirements are ANDed, so they only
//     narrow); else NoOpinion;
//   - get (of pods or any subresource): Deny. A get names an object, and
//     whether it is bound to the agent's node is known only from the
//     object, which an authorizer never sees. The agent needs no get: it
//     reads Pods only through its cache, which lists and watches with that
//     field selector (cmd/podvirt-nodeagent);
//   - any other verb: NoOpinion (writes are judged by the
//     ValidatingAdmissionPolicy podvirt-nodeagent-restriction, which sees
//     the object);
//   - anything else: NoOpinion.
//
// It never allows: it sits before RBAC in the chain and only takes away,
// so a bug here can forbid a node agent something, never grant anyone
// anything. Handler serves Decide over HTTP at Path.
//
// Imports: k8s.io/api, k8s.io/apimachinery, prometheus and logr only;
// nothing of podvirt's, and not controller-runtime: package webhooks
// registers the Handler behind its CallerAuth.
package nodeauthz
