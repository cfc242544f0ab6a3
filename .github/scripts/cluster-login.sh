#!/usr/bin/env bash
# Writes the kubeconfig context a stack's program uses (webapp:kubernetes.context) from the cloud
# login the job did before (OIDC): no kubeconfig or cluster credential is stored anywhere.
#
#   cluster-login.sh aws   <context> <region> <eks-cluster>
#   cluster-login.sh azure <context> <aks-resource-group> <aks-cluster>
#   cluster-login.sh none  <context>            (the context must exist: kind, in the dev job)
#
# kubectl and kubelogin are this script's own pinned builds, each checked against the sha256
# below before it runs (never "latest", never the runner's copy): the kubeconfig runs kubelogin
# with the job's cloud credentials, so a swapped binary would hold them. The directory is put
# first on PATH for the job's later steps (GITHUB_PATH), where pulumi's provider runs kubelogin.
# Sources of the checksums: kubectl's is the one dl.k8s.io publishes beside the binary
# (release/v1.36.1/bin/linux/amd64/kubectl.sha256), read from several projects that pin it, all
# agreeing; kubelogin's from Azure/homebrew-kubelogin Formula/kubelogin.rb at 337dc99f (0.2.13).
# To bump: change a version and its checksum together.
set -euo pipefail

KUBECTL_VERSION=v1.36.1
KUBECTL_SHA256=629d3f410e09bf49b64ae7079f7f0bda1191efed311f7d37fdbab0ad5b0ec2b7
KUBELOGIN_VERSION=v0.2.13
KUBELOGIN_SHA256=21b7cfa009b3b4044663a0f9a9ec033deddd668ca4502348f763bd93c51fb806

cloud=${1:?usage: cluster-login.sh <cloud> <context> [...]}
context=${2:?the stack has no webapp:kubernetes.context}

tools=$(mktemp -d "${RUNNER_TEMP:-/tmp}/cluster-tools.XXXXXX")
mkdir -p "$tools/bin"
export PATH="$tools/bin:$PATH"
if [ -n "${GITHUB_PATH:-}" ]; then echo "$tools/bin" >> "$GITHUB_PATH"; fi

# fetch <url> <sha256> <file>: download, then refuse the file unless its sha256 matches.
fetch() {
    curl --fail --silent --show-error --location --retry 3 --proto '=https' --output "$3" "$1"
    echo "$2  $3" | sha256sum --check --strict --quiet
}

fetch "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/amd64/kubectl" "$KUBECTL_SHA256" \
    "$tools/kubectl"
install -m 0755 "$tools/kubectl" "$tools/bin/kubectl"

case "$cloud" in
aws)
    aws eks update-kubeconfig --region "${3:?region}" --name "${4:?EKS cluster}" --alias "$context"
    ;;
azure)
    # Under `pulumi env run` (ESC azure-login with OIDC) the credentials are ARM_* variables.
    if [ -n "${ARM_OIDC_TOKEN:-}" ] && ! az account show >/dev/null 2>&1; then
        az login --service-principal --username "${ARM_CLIENT_ID:?}" --tenant "${ARM_TENANT_ID:?}" \
            --federated-token "$ARM_OIDC_TOKEN" --only-show-errors >/dev/null
        az account set --subscription "${ARM_SUBSCRIPTION_ID:?}"
    fi
    fetch "https://github.com/Azure/kubelogin/releases/download/$KUBELOGIN_VERSION/kubelogin-linux-amd64.zip" \
        "$KUBELOGIN_SHA256" "$tools/kubelogin.zip"
    unzip -q -o "$tools/kubelogin.zip" bin/linux_amd64/kubelogin -d "$tools"
    install -m 0755 "$tools/bin/linux_amd64/kubelogin" "$tools/bin/kubelogin"
    az aks get-credentials --resource-group "${3:?AKS resource group}" --name "${4:?AKS cluster}" \
        --context "$context" --overwrite-existing --only-show-errors
    # AKS with Entra ID: the token comes from the az login above, not from a stored secret.
    kubelogin convert-kubeconfig --login azurecli
    ;;
none)
    ;;
*)
    echo "cluster-login.sh: unknown cloud '$cloud' (aws, azure or none)" >&2
    exit 2
    ;;
esac

kubectl config get-contexts "$context" >/dev/null
kubectl --context "$context" --request-timeout=30s get namespaces >/dev/null
echo "context $context reachable"
