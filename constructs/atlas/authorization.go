package atlas

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Custom resource types and properties served by lambdas/atlaskeyaccess (constructs may not
// import internal/atlaskeyaccess, which names them the same).
const (
	typeKeyRoleAuthorization = "Custom::AtlasKeyRoleAuthorization"
	typeClusterEncryption    = "Custom::AtlasClusterEncryption"
)

// authorizeKeyRole authorizes role in Atlas for the project's cloud-provider access role roleID,
// once the role and its key policy exist: MongoDB's own test of MongoDB::Atlas::EncryptionAtRest
// creates the role, authorizes it and waits before creating the resource, and Atlas refuses a
// role it has not authorized. The function retries while IAM propagates the new role.
func authorizeKeyRole(scope constructs.Construct, fn awslambda.IFunction, projectID *string, roleID string, role awsiam.Role, policy awsiam.ManagedPolicy) awscdk.CustomResource {
	cr := awscdk.NewCustomResource(scope, jsii.String("KeyRoleAuthorization"), &awscdk.CustomResourceProps{
		ServiceToken: fn.FunctionArn(),
		ResourceType: jsii.String(typeKeyRoleAuthorization),
		Properties: &map[string]interface{}{
			"ProjectId": projectID, "RoleId": roleID, "IamRoleArn": role.RoleArn(),
		},
	})
	cr.Node().AddDependency(policy)
	return cr
}

// encryptCluster switches an existing cluster (not declared in the stack) to encryption at rest
// with the project's AWS KMS key: configuring the project alone leaves the cluster's storage under
// Atlas's keys.
func encryptCluster(scope constructs.Construct, fn awslambda.IFunction, projectID, cluster string) awscdk.CustomResource {
	return awscdk.NewCustomResource(scope, jsii.String("ClusterEncryption"), &awscdk.CustomResourceProps{
		ServiceToken: fn.FunctionArn(),
		ResourceType: jsii.String(typeClusterEncryption),
		Properties:   &map[string]interface{}{"ProjectId": projectID, "ClusterName": cluster},
	})
}
