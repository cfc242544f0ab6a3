#!/usr/bin/env bash
# Writes the kubeconfig context a stack's program uses (webapp:kubernetes.context) from the cloud
# login the job did before (OIDC): no kubeconfig or cluster credential is stored anywhere.
#
#   cluster-login.sh aws   <context> <region> <eks-cluster>
#   cluster-login.sh azure <context> <aks-resource-group> <aks-cluster>
#   cluster-login.sh none  <context>            (the context must exist: kind, in the dev job)
set -euo pipefail

cloud=${1:?usage: cluster-login.sh <cloud> <context> [...]}
context=${2:?the stack has no webapp:kubernetes.context}

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
    command -v kubelogin >/dev/null || sudo az aks install-cli --only-show-errors >/dev/null
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
